"""Diagnostic tools (seed 001): overfit one batch, LR finder, describe a model's cost.

Plain functions over a config and batches; `zeroloop overfit|tune-lr|describe`
(cli/train_cmd.py) print and save what they return.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from zeroloop.config.root import ZeroloopConfig
from zeroloop.model.network import create_model
from zeroloop.trainer.engine import Batch, TrainEngine
from zeroloop.trainer.schedules import exponential_sweep


def overfit(config: ZeroloopConfig, batch: Batch, steps: int = 200) -> list[dict[str, float]]:
    """Train a fresh net on one fixed batch for `steps` steps; one metrics row per step.

    A healthy model/loss/optimizer drives the loss far down; if it does not, the bug
    is in the model or the loss, not in the data pipeline.
    """
    engine = TrainEngine(config.model, config.train, steps, 0)
    state = engine.init_state(create_model(config.model, config.train.seed))
    b = engine.select_batch(batch)
    rows = []
    for _ in range(steps):
        state, m = engine.train_step(state, b)
        rows.append(m)
    host = jax.device_get(rows)
    return [{"step": i + 1, **{k: float(v) for k, v in r.items()}} for i, r in enumerate(host)]


def tune_lr(
    config: ZeroloopConfig,
    batches: Iterator[Batch],
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
    steps: int = 100,
    stop_factor: float = 4.0,
    smoothing: float = 0.9,
) -> tuple[list[dict[str, float]], float | None]:
    """Exponential LR sweep (the LR finder): rows of (step, lr, loss, smoothed) and a suggestion.

    Stops early once the smoothed loss exceeds `stop_factor` times its best (diverged).
    The suggestion is the lr of the steepest fall of the smoothed loss, a common and
    conservative pick (the lr of the minimum is usually already too high).
    """
    schedule = exponential_sweep(lr_min, lr_max, steps)
    engine = TrainEngine(config.model, config.train, steps, 0, schedule=schedule)
    state = engine.init_state(create_model(config.model, config.train.seed))
    rows: list[dict[str, float]] = []
    avg, best = 0.0, math.inf
    for i in range(steps):
        state, m = engine.train_step(state, engine.select_batch(next(batches)))
        loss, lr = float(m["loss"]), float(m["lr"])
        if not math.isfinite(loss):
            break
        avg = smoothing * avg + (1 - smoothing) * loss
        smooth = avg / (1 - smoothing ** (i + 1))  # bias-corrected like Adam's moments
        rows.append({"step": i + 1, "lr": lr, "loss": loss, "smoothed": smooth})
        best = min(best, smooth)
        if smooth > stop_factor * best and i > 10:
            break
    return rows, suggest_lr(rows)


def suggest_lr(rows: list[dict[str, float]]) -> float | None:
    """The lr where the smoothed loss falls fastest per log-lr step."""
    if len(rows) < 5:
        return None
    lr = np.array([r["lr"] for r in rows])
    sm = np.array([r["smoothed"] for r in rows])
    slope = np.gradient(sm, np.log(np.maximum(lr, 1e-30)))
    return float(lr[int(np.argmin(slope[1:-1])) + 1])


def write_csv(rows: list[dict[str, float]], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["step"])
        w.writeheader()
        w.writerows(rows)
    return path


def plot_lr(rows: list[dict[str, float]], path: str | os.PathLike[str], suggestion: float | None) -> Path:
    """Loss against learning rate (log x axis) as a PNG (matplotlib, Agg backend: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["lr"] for r in rows], [r["loss"] for r in rows], alpha=0.35, label="loss")
    ax.plot([r["lr"] for r in rows], [r["smoothed"] for r in rows], label="smoothed")
    if suggestion:
        ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):  # older jax: one dict per computation
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def _count(tree: Any) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def _nbytes(tree: Any) -> int:
    return int(sum(np.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def describe(config: ZeroloopConfig, batch: Batch) -> dict[str, Any]:
    """Parameters, FLOPs per sample and memory per batch of config's model and train step.

    FLOPs come from XLA's cost analysis of the compiled programs (forward in eval mode,
    and the whole train step: forward, backward, optimizer), divided by the batch size.
    Memory: the batch's bytes, the state's bytes, and XLA's temporary buffers of the
    compiled step (activations kept for the backward pass, workspace).
    """
    b = len(batch["weight"])
    engine = TrainEngine(config.model, config.train, config.train.steps, 0)
    model = create_model(config.model, config.train.seed)
    state = engine.init_state(model)
    sel = engine.select_batch(batch)
    params = nnx.state(model, nnx.Param)
    per_module = {
        name: _count(sub) for name, sub in sorted(nnx.to_pure_dict(params).items(), key=lambda kv: kv[0])
    }
    weights = {"params": state.params, "batch_stats": state.batch_stats}
    fwd = jax.jit(engine._eval_step).lower(weights, sel).compile()
    step = jax.jit(engine._train_step).lower(state, sel).compile()
    mem = step.memory_analysis()
    return {
        "board_size": int(batch["obs"].shape[1]),
        "batch_size": b,
        "parameters": _count(params),
        "parameters_by_module": per_module,
        "batch_stat_values": _count(nnx.state(model, nnx.BatchStat)),
        "forward_flops_per_sample": _flops(fwd) / b,
        "train_flops_per_sample": _flops(step) / b,
        "batch_bytes": _nbytes(sel),
        "state_bytes": _nbytes(state),
        "optimizer_state_bytes": _nbytes(state.opt_state),
        "step_temp_bytes": int(getattr(mem, "temp_size_in_bytes", 0)) if mem is not None else None,
    }


def format_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def flat_rows(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """describe()'s dict as (name, value) rows for printing."""
    out = []
    for k, v in info.items():
        if isinstance(v, dict):
            out += [(f"  {k}.{k2}", f"{v2:,}") for k2, v2 in v.items()]
        elif k.endswith("bytes"):
            out.append((k, format_bytes(v)))
        elif k.endswith("flops_per_sample"):
            out.append((k, f"{v / 1e6:,.2f} MFLOP"))
        else:
            out.append((k, f"{v:,}" if isinstance(v, int) else str(v)))
    return out
