"""The sweep on Ray Tune: the trial function, the ASHA scheduler, restore after a kill.

A trial is `run_training` in a Ray worker. Its progress callback (called every
optimizer step) reads the rows the trainer appended to the trial's metrics.jsonl
and reports each new one to Tune, with the global step as ASHA's time axis; ASHA
stops a trial by not letting that report return. See zeroloop.workers.sweep for
the definition, the out directory and the result files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from zeroloop.workers.sweep import METRICS, TUNE_NAME, SweepSpec, TrialRow, grid_size


class _Reporter:
    """Progress callback: reports metrics.jsonl rows to Tune as the trainer writes them."""

    def __init__(self, path: Path, metric: str, end_step: int) -> None:
        self.path = path
        self.metric = metric
        self.end_step = end_step
        self.offset = 0
        self.latest: dict[str, float] = {}

    def __call__(self, done: int, total: int) -> None:
        self.poll(final=False)

    def poll(self, final: bool) -> None:
        """Report the new rows. The rows of the last step wait for `final`: ASHA stops a
        trial that reaches max_t at once, and the trainer must first save and export."""
        from ray import tune

        if not self.path.exists():
            return
        with self.path.open() as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]  # a half-written last line waits for the next call
        lines = complete.splitlines(keepends=True)
        if not final:
            # Up to the first held-back row, so the offset stays in front of it.
            keep = next(
                (i for i, x in enumerate(lines) if int(json.loads(x)["step"]) >= self.end_step), len(lines)
            )
            lines = lines[:keep]
        self.offset += len("".join(lines).encode())
        rows = [json.loads(x) for x in lines]
        for i, row in enumerate(rows):
            split, step = row.pop("split", "train"), int(row.pop("step"))
            for k in ("loss", "policy_loss", "value_loss"):
                if isinstance(row.get(k), float | int) and math.isfinite(row[k]):
                    self.latest[f"{split}_{k}"] = float(row[k])
            # One report per step (its train and val rows together), and only once the
            # metric exists: Tune needs it in every result.
            same_step_follows = i + 1 < len(rows) and int(rows[i + 1]["step"]) == step
            if self.metric in self.latest and not same_step_follows:
                tune.report({"step": step, **self.latest})


def sweep_trial(params: dict[str, Any], spec: dict[str, Any]) -> None:
    """One trial (runs in a Ray worker): train with `params` in OUT/trials/TRIAL_ID."""
    from ray import tune

    from zeroloop.trainer.train_stage import run_training

    sweep = SweepSpec(**spec)
    config = sweep.trial_config(params)
    work = Path(sweep.out_dir) / "trials" / tune.get_context().get_trial_id()
    reporter = _Reporter(work / "metrics.jsonl", sweep.metric, sweep.steps)
    batches = validation = None
    if sweep.synthetic:
        from zeroloop.trainer.synthetic import SyntheticBatches

        tc, n = config.train, config.game.board_size
        batches = SyntheticBatches(tc.batch_size, n, tc.seed)
        validation = lambda: SyntheticBatches(tc.batch_size, n, seed=10_000)  # noqa: E731
    run_training(
        config,
        sweep.train_shards,
        sweep.test_shards,
        work,
        progress=reporter,
        batches=batches,
        validation=validation,
    )
    reporter.poll(final=True)  # the last step's rows, now that the trial is saved and done


def _search_space(sweep: SweepSpec) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = {}
    for p in sweep.parsed_params():
        if p.is_range:
            space[p.key] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
        elif sweep.search == "grid":
            space[p.key] = tune.grid_search(list(p.values))
        else:
            space[p.key] = tune.choice(list(p.values))
    return space


def run_sweep(
    sweep: SweepSpec,
    *,
    resume: bool,
    max_concurrent: int,
    cpus_per_trial: float,
    grace_steps: int | None = None,
    reduction_factor: int = 2,
) -> list[TrialRow]:
    """Run (or, with `resume`, restore and finish) the sweep on the current Ray session.

    The caller starts Ray (`ensure_ray`): a local one, or a cluster's address, over
    whose nodes the trials spread. Returns one row per trial.
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    storage = Path(sweep.out_dir)
    trainable = tune.with_resources(
        tune.with_parameters(sweep_trial, spec=sweep.to_dict()), {"cpu": cpus_per_trial}
    )
    path = storage / TUNE_NAME
    if resume and tune.Tuner.can_restore(str(path)):
        # Errored trials are re-run too: an interrupted trial goes on from its own checkpoint.
        tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True, restart_errored=True)
    else:
        grace = grace_steps or max(1, sweep.steps // 4)
        scheduler = ASHAScheduler(
            time_attr="step", max_t=sweep.steps, grace_period=grace, reduction_factor=reduction_factor
        )
        tuner = tune.Tuner(
            trainable,
            param_space=_search_space(sweep),
            tune_config=tune.TuneConfig(
                metric=sweep.metric,
                mode="min",
                scheduler=scheduler,
                num_samples=sweep.samples,
                max_concurrent_trials=max_concurrent,
            ),
            run_config=tune.RunConfig(name=TUNE_NAME, storage_path=str(storage), verbose=0),
        )
    grid = tuner.fit()
    rows = []
    for result in grid:
        metrics = {k: float(v) for k, v in (result.metrics or {}).items() if k in METRICS
                   and isinstance(v, int | float)}  # fmt: skip
        step = (result.metrics or {}).get("step")
        if result.error is not None:
            status = "error"
        elif step is not None and step >= sweep.steps:
            status = "finished"
        else:
            status = "stopped by ASHA" if step is not None else "no result"
        trial = (result.metrics or {}).get("trial_id") or Path(result.path).name
        error = str(result.error).strip().splitlines()[-1] if result.error is not None else None
        rows.append(TrialRow(str(trial), dict(result.config or {}), status, step, metrics, error))
    expected = grid_size(sweep)
    if len(rows) < expected:
        raise RuntimeError(f"Ray Tune returned {len(rows)} trials, the sweep has {expected}")
    return rows
