"""The dashboard's pieces: the SVG board, the PNG charts, the markdown built from a run
directory, and artifact keys that differ between runs."""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from zeroloop.data.chunks import write_game_chunk
from zeroloop.data.synthetic import random_records
from zeroloop.evaluation.ladder import record_results
from zeroloop.games.svg import board_svg, game_stones
from zeroloop.rundir import RunDir
from zeroloop.tasks.artifacts import artifact_key, run_name
from zeroloop.tasks.charts import Panel, Series, chart_png
from zeroloop.tasks.dashboard import dashboard_markdown, fmt_pct, fmt_seconds, generation_markdown

SVG = "{http://www.w3.org/2000/svg}"


def _images(markdown: str) -> list[tuple[str, bytes]]:
    return [
        (m, base64.b64decode(d)) for m, d in re.findall(r"\(data:(image/[a-z+]+);base64,([^)]+)\)", markdown)
    ]


def test_svg_board_has_every_cell_and_numbered_moves() -> None:
    moves = [12, 25, 7, 3, 18, 0, 6]  # 5x5, 25 = the swap action
    svg = board_svg(5, [12, 5, 7], caption="a <caption> & more")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f".//{SVG}polygon[@class='cell']")) == 25
    assert sorted(t.text for t in root.findall(f".//{SVG}text[@class='move']")) == ["1", "2", "3"]
    # The swap: black's stone at (2, 2) of move 1 becomes white's at its mirror, numbered 2.
    stones = game_stones(5, [3, 25, 7])
    assert stones == {15: (1, 2), 7: (0, 3)}
    swapped = ET.fromstring(board_svg(5, moves[:2]))
    assert [t.text for t in swapped.findall(f".//{SVG}text[@class='move']")] == ["2"]
    for bad in ([3, 3], [30], [3, 4, 25]):
        with pytest.raises(ValueError, match="move"):
            game_stones(5, bad)
    big = ET.fromstring(board_svg(11, list(range(0, 121, 2))))
    assert len(big.findall(f".//{SVG}polygon[@class='cell']")) == 121


def test_chart_png_decodes() -> None:
    png = chart_png([
        Panel("Elo", "Elo", [Series("model", [1, 2, 3], [0.0, 40.0, None], [-10, 20, None], [10, 60, None])]),
        Panel("empty", "x", []),
    ])  # fmt: skip
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size[0] > 400


def test_keys_carry_the_run_name(tmp_path: Path) -> None:
    a, b = run_name(tmp_path / "My Run_1"), run_name(tmp_path / "other")
    assert a == "my-run-1" and b == "other"
    assert artifact_key(a, "train", "gen", 2) != artifact_key(b, "train", "gen", 2)
    assert re.fullmatch(r"[a-z0-9-]+", artifact_key(a, "dashboard"))


def _fake_run(root: Path) -> RunDir:
    """A run directory as two generations leave it (summaries shaped as the stages write them)."""
    rd = RunDir.at(root)
    for g in (1, 2):
        write_game_chunk(rd.selfplay_dir(g) / "chunk-00000.arrow", random_records(5, 3, seed=g))
        rd.mark_done(g, "selfplay", {"games": 16 * g, "new_games": 16, "new_positions": 190,
                                     "mean_game_length": 11.9, "first_player_win_rate": 0.5625,
                                     "positions_per_second": 87.3, "stage_seconds": 14.2})  # fmt: skip
        losses = {"loss": 3.1 - g / 10, "policy_loss": 2.5, "value_loss": 0.6}
        rd.mark_done(g, "train", {"start_step": 20 * (g - 1), "final_step": 20 * g, "samples_per_s": 512.0,
                                  "train_metrics": losses, "val_metrics": {"loss": 3.3},
                                  "stage_seconds": 75.0})  # fmt: skip
        work = rd.checkpoint_dir(g)
        work.mkdir(parents=True)
        rows = [{"step": s, "split": "train", "loss": 3.5 - s / 40, "policy_loss": 2.6, "value_loss": 0.7}
                for s in range(20 * (g - 1) + 5, 20 * g + 1, 5)]  # fmt: skip
        rows.append({"step": 20 * g, "split": "val", "loss": 3.3})
        (work / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        cand = f"gen-{g:04d}@4"
        ref = {"b": "random", "games": 4, "win_rate": 1.0, "win_rate_low": 0.5, "win_rate_high": 1.0}
        rd.mark_done(g, "evaluate", {"candidate": cand, "games": 4, "wins": 3, "win_rate": 0.75,
                                     "win_rate_low": 0.3, "win_rate_high": 0.95, "stage_seconds": 9.0,
                                     "references": [ref]})  # fmt: skip
        record_results(rd.root, [(cand, "random", 4, 0, "test")])
        rd.mark_done(g, "promote", {"promoted": True, "reason": "gating off", "best_generation": g})
        rd.set_best(g, "gating off")
    return rd


def test_generation_note_and_dashboard_from_a_run_dir(tmp_path: Path) -> None:
    rd = _fake_run(tmp_path / "run")
    note = generation_markdown(rd, "run", 2)
    assert "| self-play | 14.2 s | 16 new games (32 in all)" in note and "black wins 56.2 %" in note
    assert "14.2 s" in note and "1 min 15 s" in note and "vs random: 100.0 % (50–100)" in note
    assert "elo: " not in note.lower() and "0.5625" not in note  # no raw key: value floats
    ((mime, svg),) = _images(note)
    assert (
        mime == "image/svg+xml" and len(ET.fromstring(svg).findall(f".//{SVG}polygon[@class='cell']")) == 25
    )

    board = dashboard_markdown(rd, "run")
    images = _images(board)
    assert [m for m, _ in images] == ["image/png"] * 3  # strength, training, self-play
    for _, png in images:
        Image.open(io.BytesIO(png)).load()
    table = [line for line in board.splitlines() if line.startswith("| 2 |")]
    assert table and "75.0 % (30–95)" in table[0] and "yes" in table[0] and "11.9 plies" in table[0]
    assert re.search(r"\| \+\d+ ± \d+ \|", table[0]), table[0]  # the Elo from the ladder, with its interval


def test_formatting() -> None:
    assert fmt_pct(0.5) == "50.0 %" and fmt_pct(None) == "–"
    assert fmt_seconds(3.25) == "3.2 s" and fmt_seconds(3725) == "1 h 02 min"
