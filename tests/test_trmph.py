"""TRMPH reading/writing (zeroloop.games.trmph) and the `zeroloop trmph` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.games import board
from zeroloop.games.trmph import (
    TrmphError,
    TrmphFileError,
    TrmphGame,
    TrmphIssue,
    cell_name,
    format_record,
    parse_cell,
    parse_record,
)
from zeroloop.games.trmph_file import parse_trmph_text, read_trmph_file, write_trmph_file

# X (first player) plays column c, rows 1..5, and connects top to bottom at move 9;
# O (second player) answers down column a and never connects.
X_WINS_5 = "#5,c1a1c2a2c3a3c4a4c5"
# O connects left to right along row 2 (a2..e2) while X plays row 4 (never connects).
O_WINS_5 = "#5,a4a2b4b2c4c2d4d2a5e2"


# ---- records -------------------------------------------------------------------------


def test_url_and_bare_forms_give_the_same_game() -> None:
    forms = [
        "http://www.trmph.com/hex/board" + X_WINS_5,
        "https://www.trmph.com/hex/board" + X_WINS_5,
        "http://trmph.com/hex/board" + X_WINS_5,
        X_WINS_5,
        X_WINS_5[1:],  # no leading "#": "5,c1a1..."
    ]
    games = [parse_record(f) for f in forms]
    assert all(g == games[0] for g in games)
    g = games[0]
    assert g.board_size == 5 and g.winner == 0 and not g.swap and g.line == 0
    assert g.moves == (2, 0, 7, 5, 12, 10, 17, 15, 22)


def test_second_player_connection() -> None:
    g = parse_record(O_WINS_5)
    assert g.winner == 1
    assert board.winner(board.replay(5, g.moves)[-1]) == 1


@pytest.mark.parametrize("n", [2, 5, 13, 19])
def test_coordinate_convention(n: int) -> None:
    # letter = column (a = left), number = row (1 = top), cell = row * N + col
    assert parse_cell("a1", n) == 0
    assert parse_cell("b1", n) == 1
    assert parse_cell("a2", n) == n
    assert parse_cell(f"{chr(96 + n)}{n}", n) == n * n - 1
    for cell in range(n * n):
        assert parse_cell(cell_name(cell, n), n) == cell
    with pytest.raises(TrmphError, match="off the"):
        parse_cell(f"a{n + 1}", n)


def test_cell_convention_matches_the_board() -> None:
    g = parse_record("#4,b1a3 1")  # resigned after two moves
    final = board.replay(4, g.moves)[-1]
    assert final[0, 1] == 1  # b1: row 0, column 1, first player
    assert final[2, 0] == -1  # a3: row 2, column 0, second player


def test_swap_is_the_first_cell_repeated() -> None:
    g = parse_record("#5,b1b1c3 1")
    assert g.swap
    assert g.moves == (1, 25, 12)
    final = board.replay(5, g.moves, swap=True)[-1]
    # b1 = (0, 1) mirrors to (1, 0) = a2 and becomes the second player's stone.
    assert final[1, 0] == -1 and final[0, 1] == 0 and final[2, 2] == 1
    assert format_record(5, g.moves, g.winner) == "#5,b1b1c3 1"


def test_swap_on_the_diagonal_keeps_the_cell_taken() -> None:
    g = parse_record("#5,c3c3b2 2")
    assert g.moves == (12, 25, 6)
    with pytest.raises(TrmphError, match=r"move 3 \(c3\): cell is already occupied"):
        parse_record("#5,c3c3c3 2")


def test_swapped_stone_counts_for_the_second_player() -> None:
    # a1 swapped becomes O on a1; O then connects left to right along row 1.
    g = parse_record("#3,a1a1a3b1a2c1")
    assert g.swap and g.winner == 1
    assert board.winner(board.replay(3, g.moves, swap=True)[-1]) == 1


def test_swap_not_at_move_two() -> None:
    with pytest.raises(TrmphError, match=r"move 3 \(b1\).*a swap is written only as move 2"):
        parse_record("#5,b1c3b1 1")
    with pytest.raises(TrmphError, match="swap is allowed only as move 2"):
        format_record(5, [1, 12, 25])
    with pytest.raises(TrmphError, match="swap is allowed only as move 2"):
        format_record(5, [25])


@pytest.mark.parametrize(("result", "winner"), [("1", 0), ("b", 0), ("B", 0), ("2", 1), ("r", 1), ("R", 1)])
def test_result_column_variants(result: str, winner: int) -> None:
    # Unfinished, so the result column decides (a resignation).
    g = parse_record(f"#5,c3d3 {result}")
    assert g.winner == winner
    assert parse_record(f"#5,c3d3\t{result}").winner == winner


def test_result_agreeing_with_the_board_is_fine() -> None:
    assert parse_record(X_WINS_5 + " 1").winner == 0
    assert parse_record(O_WINS_5 + " r").winner == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("#5,c1z9 1", r"move 2 \(z9\): cell is off the 5x5 board"),
        ("#5,c1a6 1", r"move 2 \(a6\): cell is off the 5x5 board"),
        ("#5,c1a0 1", r"move 2: bad coordinate 'a0'"),
        ("#5,c1?? 1", r"move 2: bad coordinate '\?'"),
        ("#5,c1b2b2 1", r"move 3 \(b2\): cell is already occupied$"),
        ("#5,c1b2c1 1", r"move 3 \(c1\): cell is already occupied"),
        (
            X_WINS_5 + "e5",
            r"move 10 \(e5\) comes after the game ended \(the first player connected at move 9\)",
        ),
        ("#1,a1 1", "unsupported board size 1"),
        ("#20,a1 1", "unsupported board size 20"),
        ("#5,c3 x", "unreadable result 'x'"),
        ("#5,c3 1 extra", "unexpected text after the result"),
        (X_WINS_5 + " 2", "result says the second player won, but the final position is a win for the first"),
        ("#5,c3d3", r"unfinished game \(2 moves, nobody connected\) and no result column"),
        ("http://example.com/#5,c3 1", "not a TRMPH record"),
        ("hello", "not a TRMPH record"),
    ],
)
def test_bad_records(text: str, reason: str) -> None:
    with pytest.raises(TrmphError, match=reason):
        parse_record(text)


def test_format_record() -> None:
    assert format_record(5, [2, 0, 7]) == "#5,c1a1c2"
    assert format_record(5, np.array([2, 0, 7], dtype=np.int16), 1, url=True) == (
        "http://www.trmph.com/hex/board#5,c1a1c2 2"
    )
    assert format_record(19, [360]) == "#19,s19"
    with pytest.raises(TrmphError, match="not a cell"):
        format_record(5, [26])
    with pytest.raises(TrmphError, match="winner must be"):
        format_record(5, [2], winner=2)
    with pytest.raises(TrmphError, match="unsupported board size"):
        format_record(20, [2])


# ---- random legal games (hypothesis) ---------------------------------------------------


def _random_game(n: int, seed: int, swap: bool, resign: bool) -> tuple[list[int], int, bool]:
    """A random legal game via board.replay: moves, winner, whether it was played out."""
    rng = np.random.default_rng(seed)
    cells = [int(c) for c in rng.permutation(n * n)]
    moves = cells
    if swap:
        first = cells[0]
        r, c = divmod(first, n)
        mirrored = c * n + r
        rest = [x for x in cells[1:] if x != mirrored]
        if first != mirrored:
            # the first cell is empty again after the swap
            rest.insert(int(rng.integers(0, len(rest) + 1)), first)
        moves = [first, n * n, *rest]
    boards = board.replay(n, moves, swap=True, check_end=False)
    lo, hi = 1, len(moves)  # a full board always has a winner; find the first ply that has one
    while lo < hi:
        mid = (lo + hi) // 2
        if board.winner(boards[mid]) is None:
            lo = mid + 1
        else:
            hi = mid
    winner = board.winner(boards[lo])
    assert winner is not None
    if resign and lo > 1:
        cut = int(rng.integers(0, lo))  # may be 0: a game resigned before any move
        return moves[:cut], int(rng.integers(0, 2)), False
    return moves[:lo], winner, True


game_args = st.tuples(st.integers(2, 8), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(game_args, st.booleans())
def test_random_games_round_trip_and_agree_with_board(args: tuple, url: bool) -> None:
    n, seed, swap, resign = args
    moves, winner, finished = _random_game(n, seed, swap, resign)
    if swap and finished:
        assert moves[1] == n * n
    text = format_record(n, moves, winner, url=url)
    g = parse_record(text)
    assert g.moves == tuple(moves)
    assert g.winner == winner
    assert g.swap == (len(moves) > 1 and moves[1] == n * n)
    assert format_record(g.board_size, g.moves, g.winner, url=url) == text
    final = board.replay(n, g.moves, swap=True)[-1]  # check_end=True: no move after a win
    assert board.winner(final) == (winner if finished else None)
    if finished:
        # The winner is computed without the result column, and one more move is refused.
        assert parse_record(format_record(n, moves)).winner == winner
        free = [c for c in range(n * n) if final.reshape(-1)[c] == 0]
        if free:
            with pytest.raises(TrmphError, match="comes after the game ended"):
                parse_record(format_record(n, [*moves, free[0]]))
            with pytest.raises(board.IllegalMoveError):
                board.replay(n, [*moves, free[0]], swap=True)
    else:
        with pytest.raises(TrmphError, match="unfinished game"):
            parse_record(format_record(n, moves))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(game_args, min_size=0, max_size=6))
def test_files_round_trip(tmp_path: Path, many: list[tuple]) -> None:
    games = [
        TrmphGame(n, tuple(m), w, len(m) > 1 and m[1] == n * n, line)
        for line, (n, seed, swap, resign) in enumerate(many, start=1)
        for m, w, _ in [_random_game(n, seed, swap, resign)]
    ]
    for url in (True, False):
        path = tmp_path / "games.trmph"
        write_trmph_file(path, games, url=url)
        back, issues = read_trmph_file(path)
        assert issues == []
        assert back == games
        text = path.read_text()
        write_trmph_file(path, back, url=url)
        assert path.read_text() == text  # write(read(x)) == x
    assert [p.name for p in tmp_path.iterdir()] == ["games.trmph"]  # no temporary left


# ---- files -------------------------------------------------------------------------

MIXED = f"""# games collected by hand
http://www.trmph.com/hex/board{X_WINS_5} 1
#5,c1z9 1

#5,c1b2b2 1
{O_WINS_5}
#5,c3 x
#20,a1 1
{X_WINS_5} 2
#5,c3d3
#
#5,c3d3 b
{X_WINS_5}e5
#comment without a space
#5,b1c3b1 1
   https://www.trmph.com/hex/board#5,b1b1c3 r
#5,c1a6 1
"""


def test_file_with_good_and_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "mixed.trmph"
    path.write_text(MIXED)
    games, issues = read_trmph_file(path)
    assert [g.line for g in games] == [2, 6, 12, 16]
    assert [g.winner for g in games] == [0, 1, 0, 1]
    assert games[3].swap
    lines = [i.line for i in issues]
    assert lines == [3, 5, 7, 8, 9, 10, 13, 15, 17]
    reasons = dict(zip(lines, (i.reason for i in issues), strict=True))
    assert "off the 5x5 board" in reasons[3]
    assert "already occupied" in reasons[5]
    assert "unreadable result" in reasons[7]
    assert "unsupported board size 20" in reasons[8]
    assert "result says the second player won" in reasons[9]
    assert "unfinished game" in reasons[10]
    assert "after the game ended" in reasons[13]
    assert "swap is written only as move 2" in reasons[15]
    assert "off the 5x5 board" in reasons[17]
    assert str(issues[0]) == f"{path}:3: move 2 (z9): cell is off the 5x5 board"


def test_issue_str() -> None:
    assert str(TrmphIssue("a/b.trmph", 7, "bad")) == "a/b.trmph:7: bad"


def test_text_with_crlf_and_bom() -> None:
    games, issues = parse_trmph_text("\ufeff" + X_WINS_5 + "\r\n\r\n" + O_WINS_5 + "\r\n", "x")
    assert issues == [] and [g.line for g in games] == [1, 3]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_trmph_file(tmp_path / "missing.trmph")
    binary = tmp_path / "b.trmph"
    binary.write_bytes(b"ARROW1\0\0\xff")
    with pytest.raises(TrmphFileError, match="not a text file"):
        read_trmph_file(binary)
    latin = tmp_path / "l.trmph"
    latin.write_bytes(b"#5,c3 1 caf\xe9\n")
    with pytest.raises(TrmphFileError, match="not UTF-8"):
        read_trmph_file(latin)


def test_write_accepts_any_game_like(tmp_path: Path) -> None:
    class Rec:  # shaped like data.chunks.GameRecord
        board_size = 5
        moves = np.array([2, 0, 7, 5, 12, 10, 17, 15, 22], dtype=np.int16)
        winner = 0

    path = write_trmph_file(tmp_path / "sub" / "g.trmph", [Rec()])
    assert path.read_text() == f"http://www.trmph.com/hex/board{X_WINS_5} 1\n"


# ---- CLI ---------------------------------------------------------------------------

runner = CliRunner()


def test_cli_check_all_good(tmp_path: Path) -> None:
    path = tmp_path / "good.trmph"
    path.write_text(f"{X_WINS_5}\n{O_WINS_5} 2\n")
    result = runner.invoke(app, ["trmph", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == "2 records, 2 good, 0 bad in 1 file\n"


def test_cli_check_reports_bad_lines(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.trmph"
    mixed.write_text(MIXED)
    good = tmp_path / "good.trmph"
    good.write_text(X_WINS_5 + "\n")
    result = runner.invoke(app, ["trmph", "check", str(mixed), str(good)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{mixed}:3: move 2 (z9): cell is off the 5x5 board"
    assert [ln.split(":")[1] for ln in lines[:-1]] == ["3", "5", "7", "8", "9", "10", "13", "15", "17"]
    assert lines[-1] == "14 records, 5 good, 9 bad in 2 files"


def test_cli_check_directory_and_unreadable(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.trmph").write_text(X_WINS_5 + "\n")
    (tmp_path / "d" / "notes.txt").write_text("not checked\n")
    result = runner.invoke(app, ["trmph", "check", str(tmp_path / "d")])
    assert result.exit_code == 0
    assert result.output.endswith("1 record, 1 good, 0 bad in 1 file\n")

    missing = tmp_path / "missing.trmph"
    result = runner.invoke(app, ["trmph", "check", str(missing), str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.output.splitlines()[0].startswith(f"{missing}: ")
    assert result.output.splitlines()[-1] == "1 record, 1 good, 0 bad in 2 files (1 unreadable)"


def test_cli_show(tmp_path: Path) -> None:
    path = tmp_path / "g.trmph"
    path.write_text(f"# header\n#5,c1z9 1\n{X_WINS_5}\nhttps://www.trmph.com/hex/board#5,b1b1c3 2\n")
    result = runner.invoke(app, ["trmph", "show", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{path}:3  5x5" in out
    assert "a b c d e" in out
    assert "    1 O . X . . 1" in out  # row 1, no indent beyond the margin
    assert "        5 . . X . . 5" in out  # row 5, indented four half-cells more
    assert "moves: 9" in out
    assert "winner: X (first player), connected top to bottom" in out
    assert f"record: http://www.trmph.com/hex/board{X_WINS_5} 1" in out

    result = runner.invoke(app, ["trmph", "show", f"{path}:4"])
    assert result.exit_code == 0, result.output
    assert "moves: 3, swap at move 2" in result.output
    assert "O (second player), by the result column" in result.output
    assert "     2 O . . . . 2" in result.output  # b1 swapped to a2

    result = runner.invoke(app, ["trmph", "show", f"{path}:3", "--ply", "2"])
    assert "showing the position after move 2" in result.output
    assert "    1 O . X . . 1" in result.output and "     2 . . . . . 2" in result.output


def test_cli_show_errors(tmp_path: Path) -> None:
    path = tmp_path / "g.trmph"
    path.write_text("# header\n#5,c1z9 1\n")
    result = runner.invoke(app, ["trmph", "show", f"{path}:2"])
    assert result.exit_code == 1
    assert result.output.strip() == f"{path}:2: move 2 (z9): cell is off the 5x5 board"
    result = runner.invoke(app, ["trmph", "show", f"{path}:1"])
    assert result.exit_code == 1 and "no game on this line" in result.output
    result = runner.invoke(app, ["trmph", "show", str(path)])
    assert result.exit_code == 1 and "no good game" in result.output
    result = runner.invoke(app, ["trmph", "show", str(tmp_path / "missing.trmph")])
    assert result.exit_code == 2


def test_cli_help() -> None:
    for args in (["trmph", "--help"], ["trmph", "check", "--help"], ["trmph", "show", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert "TRMPH" in result.output or "FILE" in result.output


@pytest.mark.slow
def test_many_random_games_agree_with_board() -> None:
    # The union-find in trmph.py against board.replay/board.winner on bigger boards.
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(2, 14))
        moves, winner, finished = _random_game(n, int(rng.integers(2**32)), bool(rng.integers(2)), False)
        g = parse_record(format_record(n, moves))
        assert finished and g.moves == tuple(moves) and g.winner == winner
