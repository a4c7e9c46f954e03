"""`zeroloop sweep`: a hyperparameter search over `--set` values of training, on Ray Tune.

Seed 002's `hyperparam_sweep.py` as an existing distributed engine does it: each
trial is one `run_training` with the sweep's overrides on top of the config, run as
a Ray Tune trial (so trials spread over every node of a Ray cluster), and an ASHA
scheduler stops the trials that lag behind at each rung. The search space is a grid
(every combination of the listed values) or random samples (values picked at random,
ranges drawn uniform or log-uniform).

Out directory:

    OUT/sweep.json     the sweep's definition (a resume must match it)
    OUT/tune/          Ray Tune's experiment state (Tuner.restore resumes from it)
    OUT/trials/ID/     each trial's work dir: checkpoints, metrics.jsonl, summary.json
    OUT/results.csv    one row per trial: parameters, steps reached, metrics, status
    OUT/best.yaml      the whole resolved config of the best trial

Killed and run again with the same arguments, the sweep resumes: Tune restores its
experiment state, finished trials are kept, and an interrupted trial continues from
its own last checkpoint in OUT/trials/ID (train.checkpoint.auto_resume).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zeroloop.config import ZeroloopConfig, load_config
from zeroloop.config.loading import config_to_yaml
from zeroloop.data.atomic import write_json_atomic, write_text_atomic

METRICS = tuple(f"{split}_{k}" for split in ("val", "train") for k in ("loss", "policy_loss", "value_loss"))
TUNE_NAME = "tune"


class SweepError(ValueError):
    """A sweep definition is wrong (bad --param, a clash with a previous sweep in OUT)."""


@dataclass(frozen=True)
class Param:
    """One swept key. values: the list (grid or random choice), or a (low, high) range."""

    key: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None


def _scalar(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def parse_param(text: str) -> Param:
    """`KEY=v1,v2,...` (values), `KEY=LOW..HIGH` (uniform) or `KEY=log:LOW..HIGH` (log-uniform)."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise SweepError(f"--param {text!r}: expected KEY=v1,v2 or KEY=LOW..HIGH or KEY=log:LOW..HIGH")
    log = raw.startswith("log:")
    body = raw[4:] if log else raw
    if ".." in body:
        lo_text, _, hi_text = body.partition("..")
        try:
            low, high = float(lo_text), float(hi_text)
        except ValueError:
            raise SweepError(f"--param {text!r}: range ends must be numbers, e.g. {key}=1e-4..1e-2") from None
        if not low < high or (log and low <= 0):
            raise SweepError(f"--param {text!r}: need LOW < HIGH{' and LOW > 0 for log:' if log else ''}")
        return Param(key, low=low, high=high, log=log)
    if log:
        raise SweepError(f"--param {text!r}: log: takes a range LOW..HIGH")
    values = tuple(_scalar(v) for v in body.split(",") if v.strip())
    if not values:
        raise SweepError(f"--param {text!r}: no values")
    return Param(key, values=values)


def format_value(value: Any) -> str:
    """A value as `--set` reads it back (YAML): floats always with a dot before any exponent."""
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value) if isinstance(value, bool | list | dict) else str(value)


def overrides_for(params: dict[str, Any]) -> list[str]:
    return [f"{k}={format_value(v)}" for k, v in sorted(params.items())]


@dataclass(frozen=True)
class SweepSpec:
    """Everything a trial needs (JSON-able, so it travels to Ray workers and into sweep.json).

    config: config file (or preset) the trials start from; sets: its --set overrides;
    train_shards / test_shards: position shards (paths every node can read);
    synthetic: random batches instead of shards; steps: train.steps of a full trial;
    metric: what is minimised (one of METRICS); params: the swept keys.
    """

    out_dir: str
    config: str | None
    sets: list[str]
    train_shards: list[str]
    test_shards: list[str]
    synthetic: bool
    steps: int
    metric: str
    search: str  # "grid" | "random"
    samples: int
    params: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def parsed_params(self) -> list[Param]:
        return [Param(p["key"], tuple(p["values"]), p["low"], p["high"], p["log"]) for p in self.params]

    def trial_config(self, params: dict[str, Any]) -> ZeroloopConfig:
        """The config of one trial: the base, its --set, the trial's values, the sweep's steps."""
        extra = [f"train.steps={self.steps}", "train.progress_bar=false", "train.checkpoint.auto_resume=true"]
        return load_config(self.config, list(self.sets) + overrides_for(params) + extra)


def make_spec(
    out_dir: str | os.PathLike[str],
    config: str | None,
    sets: Sequence[str],
    params: Sequence[Param],
    *,
    train_shards: Sequence[str] = (),
    test_shards: Sequence[str] = (),
    synthetic: bool = False,
    steps: int | None = None,
    metric: str | None = None,
    search: str = "grid",
    samples: int = 1,
) -> SweepSpec:
    """Check a sweep definition and return its spec; raises SweepError / ConfigError.

    Every grid point (or both ends and every listed value, for random search) is loaded
    as a config here, so a bad key or value fails before any Ray worker starts.
    """
    if search not in ("grid", "random"):
        raise SweepError(f"--search {search!r}: choose grid or random")
    if not params:
        raise SweepError("give at least one --param KEY=VALUES to sweep")
    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        raise SweepError(f"--param: a key is given twice ({keys})")
    if search == "grid" and any(p.is_range for p in params):
        bad = next(p.key for p in params if p.is_range)
        raise SweepError(f"--param {bad}: a range needs --search random (a grid takes listed values)")
    if not synthetic and not train_shards:
        raise SweepError("give position shards with --train (or --synthetic for random batches)")
    if samples < 1:
        raise SweepError("--samples must be at least 1")
    base = load_config(config, list(sets))
    metric = metric or ("val_loss" if (test_shards or synthetic) else "train_loss")
    if metric not in METRICS:
        raise SweepError(f"--metric {metric!r}: choose one of {', '.join(METRICS)}")
    if metric.startswith("val_") and not (test_shards or synthetic):
        raise SweepError(f"--metric {metric}: validation metrics need --test shards")
    spec = SweepSpec(
        out_dir=str(Path(out_dir).resolve()),
        # Absolute: Tune runs each trial in its own working directory (a preset name stays).
        config=None if config is None else str(Path(config).resolve() if Path(config).exists() else config),
        sets=list(sets),
        train_shards=[str(Path(p).resolve()) for p in train_shards],
        test_shards=[str(Path(p).resolve()) for p in test_shards],
        synthetic=synthetic,
        steps=int(steps or base.train.steps),
        metric=metric,
        search=search,
        samples=samples,
        params=[asdict(p) for p in params],
    )
    for point in _check_points(params):
        spec.trial_config(point)  # raises ConfigError naming the key
    return spec


def _check_points(params: Sequence[Param]) -> list[dict[str, Any]]:
    """The grid's points, or for random search each listed value and each range end."""
    if all(not p.is_range for p in params) and math.prod(len(p.values) for p in params) <= 64:
        return [dict(zip([p.key for p in params], combo, strict=True))
                for combo in itertools.product(*(p.values for p in params))]  # fmt: skip
    points = []
    for p in params:
        for v in p.values or (p.low, p.high):
            points.append({p.key: v})
    return points


def grid_size(spec: SweepSpec) -> int:
    """Trials the sweep runs: grid points x samples, or samples for random search."""
    if spec.search == "random":
        return spec.samples
    return spec.samples * math.prod(len(p.values) for p in spec.parsed_params())


def save_or_check_spec(spec: SweepSpec) -> bool:
    """Write OUT/sweep.json, or check it matches on a resume. True when resuming."""
    path = Path(spec.out_dir) / "sweep.json"
    if path.exists():
        old = json.loads(path.read_text())
        mine = json.loads(json.dumps(spec.to_dict()))  # tuples read back as lists
        diffs = [k for k in mine if old.get(k) != mine[k]]
        if diffs:
            raise SweepError(
                f"{path}: OUT holds a different sweep ({', '.join(diffs)} differ); "
                "run it with the same arguments to resume, or use a new --out"
            )
        return True
    write_json_atomic(path, spec.to_dict())
    return False


# ---- writing the results ------------------------------------------------------------------


@dataclass
class TrialRow:
    trial: str
    params: dict[str, Any]
    status: str
    step: int | None
    metrics: dict[str, float]
    error: str | None = None  # the last line of the trial's exception, when it failed

    def flat(self, metric_names: Sequence[str]) -> dict[str, Any]:
        row = {"trial": self.trial, **self.params, "status": self.status, "step": self.step}
        return row | {m: self.metrics.get(m) for m in metric_names}


def write_results(spec: SweepSpec, rows: Sequence[TrialRow]) -> tuple[Path, Path | None]:
    """OUT/results.csv (best first) and OUT/best.yaml (the best trial's whole config)."""
    out = Path(spec.out_dir)
    ordered = sort_rows(spec, rows)
    names = [m for m in METRICS if any(m in r.metrics for r in rows)]
    keys = [p["key"] for p in spec.params]
    header = ["trial", *keys, "status", "step", *names]
    text_rows = [r.flat(names) for r in ordered]
    tmp = out / "results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(text_rows)
    os.replace(tmp, out / "results.csv")
    best = next((r for r in ordered if spec.metric in r.metrics), None)
    best_path = None
    if best is not None:
        config = spec.trial_config(best.params)
        head = (
            f"# best trial of the sweep in {out}: {best.trial}, {spec.metric} "
            f"{best.metrics[spec.metric]:.5g} at step {best.step}\n"
            f"# swept: {', '.join(overrides_for(best.params))}\n"
        )
        best_path = write_text_atomic(out / "best.yaml", head + config_to_yaml(config))
    return out / "results.csv", best_path


def sort_rows(spec: SweepSpec, rows: Sequence[TrialRow]) -> list[TrialRow]:
    """Best first: trials that reached the full steps before those ASHA stopped, then by metric."""

    def key(r: TrialRow) -> tuple[int, float]:
        value = r.metrics.get(spec.metric)
        finished = r.step is not None and r.step >= spec.steps
        return (
            0 if finished else 1,
            value if isinstance(value, float) and math.isfinite(value) else math.inf,
        )

    return sorted(rows, key=key)
