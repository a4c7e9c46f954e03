"""RL window sizes, training cadence, reuse cap and data mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data_helpers import small_config
from zeroloop.config.data import MixConfig, WindowConfig
from zeroloop.data.window import (
    ChunkInfo,
    batch_shares,
    capped_steps,
    mix_sources,
    ready_to_train,
    select_window,
    taper_window_rows,
    window_generations,
    window_rows,
)


def katago_desired_rows(num_rows: int, min_rows: int, max_rows: int, expand: float, exponent: float) -> int:
    """KataGo python/shuffle.py num_desired_rows(), written as it is there."""
    window_taper_offset = min_rows
    power_law_x = num_rows - min_rows + window_taper_offset
    unscaled_power_law = (power_law_x**exponent) - (window_taper_offset**exponent)
    scaled_power_law = unscaled_power_law / (exponent * (window_taper_offset ** (exponent - 1)))
    desired = int(scaled_power_law * expand + min_rows)
    return min(max(desired, min_rows), max_rows)


@pytest.mark.parametrize("total", [0, 10, 250_000, 250_001, 400_000, 3_000_000, 10**8, 10**10])
def test_taper_matches_katago(total: int) -> None:
    args = (250_000, 20_000_000, 0.4, 0.65)
    assert taper_window_rows(total, *args) == katago_desired_rows(total, *args)


def test_taper_grows_sublinearly_and_caps() -> None:
    cfg = WindowConfig(mode="taper", min_rows=1000, max_rows=50_000, expand_per_row=1.0, taper_exponent=0.5)
    assert window_rows(cfg, 500) == 500  # never more than the data
    assert window_rows(cfg, 1000) == 1000
    assert 1090 < window_rows(cfg, 1100) < 1100  # slope 1 at min_rows: ~every new row counts
    sizes = [window_rows(cfg, n) for n in (10_000, 100_000, 1_000_000, 10**9)]
    assert sizes == sorted(sizes) and sizes[-1] == 50_000
    assert sizes[1] / 100_000 < sizes[0] / 10_000  # a shrinking share of the data


def test_fixed_windows_take_the_newest_chunks() -> None:
    chunks = [ChunkInfo(Path(f"c{i}"), 100) for i in range(10)]
    assert [c.path.name for c in select_window(chunks, WindowConfig(mode="chunks", chunks=3))] == [
        "c7",
        "c8",
        "c9",
    ]
    got = select_window(chunks, WindowConfig(mode="positions", positions=250))
    assert [c.path.name for c in got] == ["c7", "c8", "c9"]  # whole chunks, >= 250 rows
    assert len(select_window(chunks, WindowConfig(mode="all"))) == 10
    taper = WindowConfig(mode="taper", min_rows=300, max_rows=10_000, expand_per_row=0.5, taper_exponent=0.8)
    want = window_rows(taper, 1000)
    got = select_window(chunks, taper)
    assert sum(c.rows for c in got) >= want > sum(c.rows for c in got[1:])


def test_window_generations(tmp_path: Path) -> None:
    def gen_dir(g: int) -> Path:
        return tmp_path / f"gen-{g:04d}"

    for g in range(1, 6):
        train = gen_dir(g) / "train"
        train.mkdir(parents=True)
        shards = [train / f"chunk-{k:05d}.feather" for k in range(2)]
        for s in shards:
            s.write_bytes(b"")
        (gen_dir(g) / "summary.json").write_text(
            json.dumps({"train_shards": [str(s) for s in shards], "positions_train": 2000})
        )
    data = small_config("data.window.mode=positions", "data.window.positions=3500").data
    assert window_generations(data, [1, 2, 3, 4, 5], gen_dir) == [4, 5]
    data = small_config("data.window.mode=chunks", "data.window.chunks=5").data
    assert window_generations(data, [1, 2, 3, 4, 5], gen_dir) == [3, 4, 5]
    data = small_config("data.window.mode=all").data
    assert window_generations(data, [1, 2, 3, 4, 5], gen_dir) == [1, 2, 3, 4, 5]


def test_training_cadence_and_reuse_cap() -> None:
    rl = WindowConfig(chunks_per_network=4, max_reuse=2.0)
    assert not ready_to_train(3, rl) and ready_to_train(4, rl)
    assert ready_to_train(0, WindowConfig(chunks_per_network=0))  # SL: train again at once
    assert capped_steps(1000, 256, 10_000, rl) == 78  # 2 x 10k positions / 256
    assert capped_steps(10, 256, 10_000, rl) == 10
    assert capped_steps(1000, 256, 10, rl) == 1
    assert capped_steps(1000, 256, 10, WindowConfig()) == 1000


def test_mixing_by_skip_pattern_and_weight(tmp_path: Path) -> None:
    from tests.test_data_shuffle import _write_inputs

    new = _write_inputs(tmp_path / "new", [100, 100])
    old = _write_inputs(tmp_path / "old", [100, 100, 100])
    sources = mix_sources(
        [tmp_path / "new"], MixConfig(existing_dirs=[str(tmp_path / "old")], skip_files=[0, 2])
    )
    assert [len(s.shards) for s in sources] == [2, 1] and sources[1].shards == old[2:]
    assert [round(s.weight, 3) for s in sources] == [0.667, 0.333]  # by size
    weighted = mix_sources([new[0]], MixConfig(existing_dirs=[str(tmp_path / "old")], weights=[3, 1]))
    assert [s.weight for s in weighted] == [0.75, 0.25]
    with pytest.raises(ValueError, match="weights"):
        mix_sources([new[0]], MixConfig(weights=[1, 2]))
    assert batch_shares(256, [0.75, 0.25]) == [192, 64]
    assert batch_shares(10, [1, 1, 1]) == [4, 3, 3] and sum(batch_shares(7, [0.5, 0.3, 0.2])) == 7
