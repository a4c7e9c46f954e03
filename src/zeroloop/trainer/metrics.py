"""Training telemetry: TensorBoard + JSONL metrics, heartbeat with ETA, progress bar, memory."""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

log = logging.getLogger("zeroloop.trainer")


def peak_memory() -> dict[str, float]:
    """Peak memory so far, in MiB: host RSS (getrusage) and, on GPUs/TPUs, device memory stats."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    out = {"host_peak_rss_mb": rss / (2**20 if sys.platform == "darwin" else 2**10)}
    for d in jax.local_devices():
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if stats:  # None on CPU
            out[f"device{d.id}_peak_mb"] = stats.get("peak_bytes_in_use", 0) / 2**20
            out[f"device{d.id}_in_use_mb"] = stats.get("bytes_in_use", 0) / 2**20
            if stats.get("bytes_limit"):
                out[f"device{d.id}_limit_mb"] = stats["bytes_limit"] / 2**20
    return out


MEMORY_WARN_FRACTION = 0.9


def memory_warnings(mem: Mapping[str, float]) -> list[str]:
    """Seed 003's memory alert: devices whose peak use passed 90% of their limit."""
    out = []
    for key, peak in mem.items():
        if key.endswith("_peak_mb"):
            limit = mem.get(key.replace("_peak_mb", "_limit_mb"))
            if limit and peak > MEMORY_WARN_FRACTION * limit:
                dev = key.removesuffix("_peak_mb")
                out.append(
                    f"{dev} memory peak {peak:.0f} MiB is over 90% of {limit:.0f} MiB: lower the batch size"
                )
    return out


def mean_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Average a list of per-step metric dicts (host values) key by key."""
    keys = {k for r in rows for k in r}
    return {k: float(np.mean([float(r[k]) for r in rows if k in r])) for k in sorted(keys)}


class MetricsLogger:
    """Appends metrics to WORK_DIR/metrics.jsonl and (optionally) TensorBoard at WORK_DIR/tb.

    JSONL lines: {"step": int, "split": "train" | "val", "time": unix seconds, <metric>: float}.
    Appending keeps the history of a resumed run in one file; TensorBoard shows
    the overlap of a resumed run as a second point at the same steps.
    """

    def __init__(self, work_dir: str | os.PathLike[str], tensorboard: bool = True) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = (self.work_dir / "metrics.jsonl").open("a")
        self._tb: Any = None
        if tensorboard:
            from tensorboardX import SummaryWriter  # lazy: only runs that log pay the import

            self._tb = SummaryWriter(str(self.work_dir / "tb"))

    def log(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        row = {"step": step, "split": split, "time": round(time.time(), 3)}
        row.update({k: _finite_or_str(v) for k, v in metrics.items()})
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float) and math.isfinite(v):
                    self._tb.add_scalar(f"{split}/{k}", v, step)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _finite_or_str(v: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so the line still parses."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Heartbeat:
    """A one-line status every `interval` seconds: step, losses, lr, speed, memory, ETA (seed 003)."""

    def __init__(
        self, interval: float, start_step: int, end_step: int, emit: Callable[[str], None] | None = None
    ):
        self.interval = interval
        self.start_step = start_step
        self.end_step = end_step
        self.emit = emit or log.info
        self.t0 = time.monotonic()
        self.last = self.t0
        self.first_step = start_step

    def eta(self, step: int) -> float:
        done = step - self.first_step
        if done <= 0:
            return math.inf
        return (time.monotonic() - self.t0) / done * (self.end_step - step)

    def beat(self, step: int, metrics: Mapping[str, float], force: bool = False) -> str | None:
        now = time.monotonic()
        if not force and (self.interval <= 0 or now - self.last < self.interval):
            return None
        self.last = now
        mem = peak_memory()
        parts = [f"step {step}/{self.end_step}"]
        for k in ("loss", "policy_loss", "value_loss", "lr", "samples_per_s"):
            if k in metrics:
                parts.append(f"{k} {metrics[k]:.4g}")
        parts.append(f"peak rss {mem['host_peak_rss_mb']:.0f} MiB")
        parts += [f"{k} {v:.0f}" for k, v in mem.items() if k.startswith("device") and k.endswith("peak_mb")]
        parts.append(f"ETA {format_eta(self.eta(step))}")
        line = "heartbeat: " + ", ".join(parts)
        self.emit(line)
        for warning in memory_warnings(mem):
            log.warning(warning)
        return line


class ProgressBar:
    """A rich progress bar, shown only on a terminal (Prefect logs and pipes get the heartbeat)."""

    def __init__(self, enabled: bool, total: int, description: str = "train") -> None:
        self._progress: Any = None
        if not enabled or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, info="")
        self._progress.start()

    def update(self, done: int, info: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, info=info)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
