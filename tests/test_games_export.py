"""`zeroloop games export`: chunks -> TRMPH and HexGUI SGF, checked by reading them back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.data.chunks import GameRecord, write_game_chunk
from zeroloop.data.synthetic import random_game
from zeroloop.games import board
from zeroloop.games.trmph_file import read_trmph_file

runner = CliRunner()


def _games(n: int, count: int, seed: int) -> list[GameRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        moves, winner = random_game(n, rng, swap=i % 3 == 0)
        out.append(GameRecord(n, np.asarray(moves, np.int16), winner, swap=True, model_id=f"gen-{seed}"))
    return out


def _parse_sgf(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A deliberately small SGF reader: root properties and the (colour, value) moves."""
    assert text.startswith("(;") and text.rstrip().endswith(")")
    nodes = text.strip()[2:-1].split(";")
    props = dict(re.findall(r"([A-Z]+)\[((?:\\.|[^\]])*)\]", nodes[0]))
    moves = []
    for node in nodes[1:]:
        m = re.fullmatch(r"([BW])\[([^\]]*)\]", node)
        assert m, node
        moves.append((m.group(1), m.group(2)))
    return props, moves


def _sgf_cell(value: str, n: int) -> int:
    if value == "swap-pieces":
        return n * n
    col = ord(value[0]) - ord("a")
    row = int(value[1:]) - 1
    assert 0 <= col < n and 0 <= row < n
    return row * n + col


def test_export_round_trip(tmp_path: Path) -> None:
    chunks = tmp_path / "selfplay"
    a = _games(5, 7, 1)
    b = _games(5, 5, 2)
    write_game_chunk(chunks / "w0" / "chunk-0.arrow", a)
    write_game_chunk(chunks / "w1" / "chunk-0.arrow", b)
    out = tmp_path / "out"
    r = runner.invoke(app, ["games", "export", str(chunks), "--out", str(out)])
    assert r.exit_code == 0, r.output
    games = a + b
    assert any(int(g.moves[1]) == 25 for g in games)  # the swap is exercised

    read, issues = read_trmph_file(out / "games.trmph")
    assert not issues
    assert [list(g.moves) for g in read] == [[int(m) for m in g.moves] for g in games]
    assert [g.winner for g in read] == [g.winner for g in games]

    files = sorted((out / "sgf").glob("*.sgf"))
    assert len(files) == len(games)
    for path, game in zip(files, games, strict=True):
        props, moves = _parse_sgf(path.read_text())
        assert props["FF"] == "4" and props["GM"] == "11" and props["SZ"] == "5"
        assert props["RE"] == ("B+" if game.winner == 0 else "W+")
        assert props["GN"] == game.game_id and game.game_id in path.name
        assert [c for c, _ in moves] == ["B" if i % 2 == 0 else "W" for i in range(len(moves))]
        cells = [_sgf_cell(v, 5) for _, v in moves]
        assert cells == [int(m) for m in game.moves]
        # the SGF moves replay to the winner it records
        final = board.replay(5, cells, swap=True)  # [T+1, N, N]: every position
        assert board.winner(final[-1]) == game.winner


def test_format_and_limit_and_errors(tmp_path: Path) -> None:
    write_game_chunk(tmp_path / "c.arrow", _games(4, 6, 3))
    out = tmp_path / "o"
    r = runner.invoke(
        app, ["games", "export", str(tmp_path / "c.arrow"), "-o", str(out), "-f", "sgf", "--limit", "2"]
    )
    assert r.exit_code == 0, r.output
    assert len(list((out / "sgf").glob("*.sgf"))) == 2 and not (out / "games.trmph").exists()
    r = runner.invoke(app, ["games", "export", str(tmp_path), "-o", str(out), "--format", "png"])
    assert r.exit_code == 2 and "--format 'png'" in r.output
    r = runner.invoke(app, ["games", "export", str(tmp_path / "missing"), "-o", str(out)])
    assert r.exit_code == 2 and "missing" in r.output
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["games", "export", str(tmp_path / "empty"), "-o", str(out)])
    assert r.exit_code == 2 and "no game chunks" in r.output
