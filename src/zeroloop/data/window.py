"""The RL training window, when to train again, reuse caps, and data mixing.

RL trains each generation on the most recent data only: old games come from weaker
networks. The window is either a fixed size (newest `chunks` chunks or `positions`
positions) or KataGo's power-law taper (python/shuffle.py), which grows with the
total amount of data so early generations do not train on a handful of games and
late ones do not drown in stale data:

    rows(N) = (N**e - m**e) / (e * m**(e-1)) * expand_per_row + m
    window  = min(clamp(rows(N), m, max_rows), N)

with N = total rows, m = min_rows, e = taper_exponent. rows(m) = m, and the division
makes the slope at N = m exactly `expand_per_row`; beyond, the window grows as N**e.
(KataGo writes N as `N - min_rows + offset` with offset = min_rows: the same thing.) SL is the same
machinery with mode 'all' (a pool larger than all data) and chunks_per_network = 0
(seed 001's RL vs SL table); docs/data.md shows both.

A "chunk" is one preprocessed position shard (`positions/gen-N/train/chunk-*.feather`,
`data.chunk_size` games each).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from zeroloop.config.data import DataConfig, MixConfig, WindowConfig
from zeroloop.data.shards import ShardError, shard_rows
from zeroloop.data.sources import expand_shards


@dataclass(frozen=True)
class ChunkInfo:
    """One position shard and its row count."""

    path: Path
    rows: int


def taper_window_rows(
    total_rows: int, min_rows: int, max_rows: int, expand_per_row: float, exponent: float
) -> int:
    """KataGo's desired window size (rows) for `total_rows` rows of data, before capping
    at `total_rows`. See the module docstring for the formula."""
    m = float(min_rows)
    unscaled = max(float(total_rows), 0.0) ** exponent - m**exponent
    scaled = unscaled / (exponent * m ** (exponent - 1.0))
    desired = int(scaled * expand_per_row + min_rows)
    return max(min_rows, min(desired, max_rows))


def window_rows(cfg: WindowConfig, total_rows: int) -> int:
    """Rows the window should hold given `total_rows` (mode 'chunks' counts chunks instead)."""
    if cfg.mode == "all":
        return total_rows
    if cfg.mode == "positions":
        return min(cfg.positions, total_rows)
    if cfg.mode == "taper":
        rows = taper_window_rows(
            total_rows, cfg.min_rows, cfg.max_rows, cfg.expand_per_row, cfg.taper_exponent
        )
        return min(rows, total_rows)
    raise ValueError(f"window mode {cfg.mode!r} has no row target")


def select_window(chunks: Sequence[ChunkInfo], cfg: WindowConfig) -> list[ChunkInfo]:
    """The newest chunks that make up the window; `chunks` and the result are oldest first.

    Whole chunks are taken, so the window may exceed its row target by less than one chunk.
    """
    if cfg.mode == "all":
        return list(chunks)
    if cfg.mode == "chunks":
        return list(chunks[-cfg.chunks :])
    target = window_rows(cfg, sum(c.rows for c in chunks))
    taken: list[ChunkInfo] = []
    rows = 0
    for c in reversed(chunks):
        if rows >= target and taken:
            break
        taken.append(c)
        rows += c.rows
    return taken[::-1]


def chunk_infos(paths: Sequence[str | os.PathLike[str]]) -> list[ChunkInfo]:
    """ChunkInfo of every shard under `paths` (files or directories, order kept)."""
    out = []
    for p in expand_shards(paths):
        try:
            out.append(ChunkInfo(p, shard_rows(p)))
        except ShardError:
            continue  # an unreadable shard is quarantined by the stage that reads it
    return out


def _generation_chunks(positions_dir: Path) -> list[ChunkInfo]:
    """Train chunks of one generation, using its preprocess summary when there is one."""
    summary = positions_dir / "summary.json"
    if summary.exists():
        try:
            data = json.loads(summary.read_text())
            shards = [Path(p) for p in data.get("train_shards", [])]
            if shards and all(p.exists() for p in shards):
                per = data.get("positions_train", 0) / len(shards)
                return [ChunkInfo(p, int(per)) for p in shards]
        except (OSError, ValueError):
            pass
    train = positions_dir / "train"
    return chunk_infos([train]) if train.exists() else []


def window_generations(
    data: DataConfig, have: Sequence[int], positions_dir: Callable[[int], Path]
) -> list[int]:
    """Generations (oldest first) whose train positions make up this generation's window.

    have: generations with positions; positions_dir(g): their `positions/gen-NNNN` folder.
    Generations are taken whole, newest first, until the window is covered.
    """
    gens = sorted(have)
    chunks = {g: _generation_chunks(positions_dir(g)) for g in gens}
    flat = [c for g in gens for c in chunks[g]]
    chosen = select_window(flat, data.window)
    if not chosen:
        return []
    first = chosen[0].path
    start = next(g for g in gens if any(c.path == first for c in chunks[g]))
    return [g for g in gens if g >= start]


def ready_to_train(new_chunks: int, cfg: WindowConfig) -> bool:
    """RL: train again once `chunks_per_network` new chunks arrived; SL (0): at once."""
    return cfg.chunks_per_network == 0 or new_chunks >= cfg.chunks_per_network


def steps_for_new_data(steps: int, batch_size: int, new_rows: int, cfg: WindowConfig) -> int:
    """Training steps tied to the new data: samples_per_new_position x new_rows / batch_size.

    At most `steps` (train.steps is the ceiling) and at least 1; `steps` unchanged when
    `samples_per_new_position` is None.
    """
    if cfg.samples_per_new_position is None:
        return steps
    return max(1, min(steps, round(cfg.samples_per_new_position * new_rows / batch_size)))


def capped_steps(steps: int, batch_size: int, window: int, cfg: WindowConfig) -> int:
    """Training steps allowed on a window of `window` rows under `max_reuse`.

    Each position is then used about max_reuse times at most per generation; at least
    one step is always allowed so a tiny first window still trains.
    """
    if cfg.max_reuse is None or window <= 0:
        return steps
    return max(1, min(steps, math.floor(cfg.max_reuse * window / batch_size)))


# ---- mixing --------------------------------------------------------------------------


@dataclass(frozen=True)
class MixSource:
    """Shards from one data directory and the share of each batch drawn from it."""

    name: str
    shards: list[Path]
    weight: float


def mix_sources(new_data: Sequence[str | os.PathLike[str]], mix: MixConfig) -> list[MixSource]:
    """New data plus `mix.existing_dirs`, as weighted sources (seed 002's data mixing).

    `mix.skip_files[i]` files are skipped at the start of source i (new data first),
    as seed 002's `--skip-files`; files are in name order. `mix.weights[i]` is the
    share of every batch drawn from source i; without weights, shares follow the
    number of positions so every position is equally likely.
    """
    groups = [("new", list(new_data))] + [(str(d), [d]) for d in mix.existing_dirs]
    if mix.weights and len(mix.weights) != len(groups):
        raise ValueError(f"data.mix.weights has {len(mix.weights)} entries for {len(groups)} data sources")
    if len(mix.skip_files) > len(groups):
        raise ValueError(
            f"data.mix.skip_files has {len(mix.skip_files)} entries for {len(groups)} data sources"
        )
    sources = []
    for i, (name, paths) in enumerate(groups):
        shards = expand_shards(paths)
        skip = mix.skip_files[i] if i < len(mix.skip_files) else 0
        shards = shards[skip:]
        weight = mix.weights[i] if mix.weights else float(sum(_rows_or_zero(p) for p in shards))
        if shards and weight > 0:
            sources.append(MixSource(name, shards, weight))
    total = sum(s.weight for s in sources)
    return [MixSource(s.name, s.shards, s.weight / total) for s in sources]


def _rows_or_zero(path: Path) -> int:
    """A shard's rows, 0 when it cannot be opened (the loader reports and skips it)."""
    try:
        return shard_rows(path)
    except ShardError:
        return 0


def batch_shares(batch_size: int, weights: Sequence[float]) -> list[int]:
    """Rows of each batch per source: largest-remainder rounding of batch_size x weight.

    Fixed per batch (not sampled), so a mixed loader's position is just each source's
    position and resumes exactly.
    """
    total = sum(weights)
    exact = [batch_size * w / total for w in weights]
    shares = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in order[: batch_size - sum(shares)]:
        shares[i] += 1
    return shares
