"""The GTP engine in a scripted session (stdin text in, stdout text checked), and `zeroloop play`."""

import io

import pytest
from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.evaluation.agents import legal_moves
from zeroloop.evaluation.gtp import GtpEngine
from zeroloop.games.trmph import parse_cell

TINY = ["--set", "model.blocks=1", "--set", "model.channels=8", "--set", "model.value_hidden=8"]


class FirstLegal:
    """Deterministic stand-in for the model: the lowest legal move."""

    name = "first"

    def __init__(self, game) -> None:
        self.game = game

    def choose_moves(self, games):
        return [int(legal_moves(m, self.game.board_size, self.game.swap)[0]) for m in games]


def session(script: str, **kwargs) -> str:
    engine = GtpEngine(FirstLegal, **kwargs)
    out = io.StringIO()
    engine.run(io.StringIO(script), out)
    return out.getvalue()


SCRIPT = """\
1 protocol_version
name
version
# a comment line is ignored
boardsize 4
known_command genmove
known_command fly
play b b2
play w b2
play w z9
play x a1
frobnicate
2 genmove w
showboard
undo
genmove white
play black b3
genmove w
play B c1
genmove w
play b b4
genmove w
final_score
showboard
quit
name
"""

EXPECTED = """\
=1 2

= zeroloop

= 0.1.0

= \n\n= true

= false

= \n\n? illegal move: b2 is occupied

? illegal move: cell z9 is off the 4x4 board

? invalid color 'x' (b, black, w or white)

? unknown command

=2 a1

= \n  a b c d
1 O . . . 1
 2 . X . . 2
  3 . . . . 3
   4 . . . . 4
     a b c d
last move: a1

= \n\n= a1

= \n\n= b1

= \n\n= d1

= \n\n? game is over

= B+

= \n  a b c d
1 O O X O 1
 2 . X . . 2
  3 . X . . 3
   4 . X . . 4
     a b c d
last move: b4
black wins

= \n\n"""


def test_scripted_session() -> None:
    """Every response, byte for byte: ids echoed, errors answered and survived, `quit` ends it.

    The stand-in agent plays the lowest legal cell, so the transcript is fixed: black
    b2, b3, c1, b4 joins top and bottom against white a1 (after an undo), b1, d1.
    """
    assert session(SCRIPT, board_size=11) == EXPECTED


def test_game_to_the_end_and_final_score() -> None:
    # 2x2: black b1 then white plays a1 (first legal); black b2 joins top and bottom.
    got = session("boardsize 2\nplay b b1\ngenmove w\nplay b b2\nfinal_score\ngenmove w\n")
    assert got.split("\n\n")[:-1] == ["= ", "= ", "= a1", "= ", "= B+", "? game is over"]


def test_swap_pieces() -> None:
    script = "boardsize 3\nplay w swap\nplay b a2\nplay b swap\nplay w swap-pieces\nshowboard\nplay w swap\n"
    got = session(script, swap=True).split("\n\n")
    assert got[1] == "? illegal move: swap is only legal right after black's first stone"
    assert got[3] == "? illegal move: only white can swap"
    assert got[4] == "= "
    # HexGUI's convention: the board stays as it was (black's a2), the swapper moves next.
    picture = got[5].splitlines()
    assert picture[3] == " 2 X . . 2" and picture[-1] == "last move: swap-pieces"
    assert got[6] == "? illegal move: swap is only legal right after black's first stone"
    off = session("boardsize 3\nplay b a2\nplay w swap\n").split("\n\n")
    assert off[2] == "? illegal move: the swap rule is off (set_swap on)"


def test_bad_boardsize_and_resign() -> None:
    got = session("boardsize 40\nboardsize 5 7\nboardsize x\nplay b resign\nfinal_score\n").split("\n\n")
    assert got[:3] == [
        "? unacceptable size: 2..19",
        "? unacceptable size: only square boards",
        "? boardsize is not an integer",
    ]
    assert got[3:5] == ["= ", "= W+"]


def test_cli_gtp_with_random_net() -> None:
    runner = CliRunner()
    script = "boardsize 3\nplay b b2\ngenmove w\nshowboard\nquit\n"
    result = runner.invoke(app, ["gtp", "--random", "--sims", "4", *TINY, "-n", "3"], input=script)
    assert result.exit_code == 0, result.output
    replies = result.stdout.split("\n\n")
    assert replies[:2] == ["= ", "= "]
    move = replies[2].removeprefix("= ")
    assert parse_cell(move, 3) != parse_cell("b2", 3)
    assert "X" in replies[3] and "O" in replies[3]


def test_cli_play_scripted() -> None:
    """A person who tries every cell in order: occupied ones are refused, the game ends."""
    runner = CliRunner()
    cells = [f"{c}{r}" for r in (1, 2, 3) for c in "abc"]
    script = "\n".join(["zz", "help", *cells, "quit"]) + "\n"
    args = ["play", "--random", "--sims", "4", *TINY, "-n", "3", "--color", "b"]
    result = runner.invoke(app, args, input=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "bad coordinate 'zz'" in out
    assert "model (white) plays" in out
    assert "wins" in out and "game: #3," in out


@pytest.mark.parametrize("color", ["w"])
def test_cli_play_model_moves_first_and_quit(color: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["play", "--random", "--sims", "4", *TINY, "-n", "3", "--color", color], input="quit\n"
    )
    assert result.exit_code == 0, result.output
    assert "model (black) plays" in result.stdout


class PreferB1:
    """Stand-in that is not symmetric under the transpose: the lowest legal cell from b1 on."""

    name = "prefer-b1"

    def __init__(self, game) -> None:
        self.game = game

    def choose_moves(self, games):
        out = []
        for m in games:
            cells = [
                c for c in legal_moves(m, self.game.board_size, self.game.swap) if c < self.game.board_size**2
            ]
            out.append(int(min(cells, key=lambda c: (c == 0, c))))
        return out


def hexgui_replay(pairs: list[tuple[str, str]], **kwargs) -> None:
    """Send each command, compare each response (without its closing blank line)."""
    engine = GtpEngine(PreferB1, **kwargs)
    for command, expected in pairs:
        got = engine.handle(command + "\n")
        assert got is not None and got.endswith("\n\n"), (command, got)
        assert got[:-2] == expected, f"{command!r}: got {got[:-2]!r}, expected {expected!r}"


EMPTY_4 = "= \n  a b c d\n1 . . . . 1\n 2 . . . . 2\n  3 . . . . 3\n   4 . . . . 4\n     a b c d"
ROWS_C1 = "= \n  a b c d\n1 . . X . 1\n 2 . . . . 2\n  3 . . . . 3\n   4 . . . . 4\n     a b c d"
ROWS_C1_A2 = "= \n  a b c d\n1 . . X . 1\n 2 O . . . 2\n  3 . . . . 3\n   4 . . . . 4\n     a b c d"


def test_hexgui_session() -> None:
    """The commands HexGUI sends, in its order, with the answers it needs.

    Sequences from HexGUI's src/hexgui/gui/HexGui.java (ryanbhayward/hexgui):
    connectProgram: name, version, hexgui-analyze_commands (HexGUI waits for this
    answer before going on: an error leaves it hanging), boardsize W H, the moves up to
    the current node, showboard. cmdNewGame: boardsize W H, showboard. humanMove: play
    COLOR CELL, showboard, then genmove COLOR with auto-respond. game_swap: humanMove
    of swap-pieces by the colour on move (white), which HexGUI does not toggle.
    backward (undo): undo per node, then showboard. addSetupMove: play COLOR CELL in
    either colour (HexGUI then sets the mover to that colour and sends it with genmove).
    """
    analyze = "param/Game Parameters/param_game\nstring/Final Score/final_score\nstring/Time Left/time_left"
    connect = [
        ("name", "= zeroloop"),
        ("version", "= 0.1.0"),
        ("hexgui-analyze_commands", f"= {analyze}"),
        ("boardsize 4 4", "= "),
        ("showboard", EMPTY_4),
    ]
    new_game_and_move = [
        ("boardsize 4 4", "= "),
        ("showboard", EMPTY_4),
        ("play black c1", "= "),
        (
            "showboard",
            ROWS_C1 + "\nlast move: c1",
        ),
        ("genmove white", "= b1"),
    ]
    undo_then_swap = [
        ("undo", "= "),
        (
            "showboard",
            ROWS_C1 + "\nlast move: c1",
        ),
        ("play white swap-pieces", "= "),
        (
            "showboard",
            ROWS_C1 + "\nlast move: swap-pieces",
        ),
        # White is still on move. The agent sees our form of the game (white stone on
        # a3, black to move), answers b1, which is a2 on HexGUI's board.
        ("genmove white", "= a2"),
        (
            "showboard",
            ROWS_C1_A2 + "\nlast move: a2",
        ),
        ("play black b2", "= "),
        # Ours: white a3 (the swapped stone), black b1 (HexGUI's a2), white b2; black
        # takes c1, HexGUI's a3.
        ("genmove white", "= a3"),
        ("undo", "= "),
        ("undo", "= "),
        ("undo", "= "),
        ("undo", "= "),  # back to black's c1, white on move again
        ("genmove white", "= b1"),
        ("final_score", "= cannot score"),
    ]
    hexgui_replay(connect + new_game_and_move + undo_then_swap, board_size=11, swap=True)


def test_setup_stones_and_side_to_move() -> None:
    hexgui_replay(
        [
            ("boardsize 4 4", "= "),
            ("play black a1", "= "),
            ("play black b1", "= "),  # two black stones in a row: set-up
            ("play white c3", "= "),
            ("genmove white", "= c1"),
            ("genmove black", "= d1"),  # HexGUI's "toggle to move", then genmove
            ("play white a3", "= "),
            # White again, with as many stones as black: handed to the agent transposed,
            # colours exchanged (black to move there); its b1 is a2 here.
            ("genmove white", "= a2"),
            ("play black a4", "= "),
            ("play black b4", "= "),
            (
                "genmove black",
                "? cannot generate a move: 5 black and 4 white stones with black to move "
                "is not a position of a game",
            ),  # fmt: skip
            ("genmove white", "= b2"),
            ("final_score", "= cannot score"),
        ]
    )


def test_time_left_param_game_and_boardsize_forms() -> None:
    hexgui_replay(
        [
            ("time_left", "= Black: 30:00, White: 30:00"),
            ("time_left white 100 0", "= "),
            ("time_left white", "= 1:40"),
            ("time_left black x", "? time_left: 'x' is not a number of seconds"),
            ("param_game", "= \n[bool] allow_swap 0\n[string] game_time 1800"),
            ("param_game allow_swap 1", "= "),
            ("param_game game_time 60", "= "),
            ("param_game", "= \n[bool] allow_swap 1\n[string] game_time 60"),
            ("param_game colour 1", "? unknown parameter 'colour' (allow_swap, game_time)"),
            ("param_game allow_swap", "? Expected 0 or 2 arguments"),
            ("boardsize 3", "= "),
            ("time_left black", "= 1:00"),  # a new game starts both clocks at game_time
            ("boardsize 5 5", "= "),
            ("boardsize 5 6", "? unacceptable size: only square boards"),
            ("play b b2", "= "),
            ("play w swap-pieces", "= "),
            ("known_command hexgui-analyze_commands", "= true"),
        ],
        board_size=5,
    )


def test_any_exception_is_an_error_answer_not_the_end() -> None:
    class Broken:
        name = "broken"

        def __init__(self, game) -> None:
            pass

        def choose_moves(self, games):
            raise RuntimeError("model file\nvanished")

    engine = GtpEngine(Broken, board_size=3)
    out = io.StringIO()
    engine.run(io.StringIO("genmove b\nplay b a1\n7 genmove w\nshowboard\nquit\n"), out)
    replies = out.getvalue().split("\n\n")
    assert replies[0] == "? internal error: model file vanished"
    assert replies[1] == "= "
    assert replies[2] == "?7 internal error: model file vanished"
    assert replies[3].startswith("= \n") and replies[4] == "= "


def test_game_moves_maps_hexgui_positions_to_our_games() -> None:
    import numpy as np

    from zeroloop.evaluation.gtp_position import game_moves
    from zeroloop.games.board import replay, transpose_swap_board

    n = 4
    # Direct: black c1, white b2, black a4 with white to move.
    assert game_moves([2, 12], [5], 1, n) == ([2, 5, 12], False)
    # As many stones, white to move: transposed with colours exchanged.
    moves, transposed = game_moves([2], [5], 1, n)
    assert transposed and moves == [5, 8]  # b2 stays, c1 (row 0, col 2) becomes a3 (row 2, col 0)
    hexgui = np.zeros((n, n), np.int8)
    hexgui.flat[2], hexgui.flat[5] = 1, -1
    np.testing.assert_array_equal(replay(n, moves)[-1], transpose_swap_board(hexgui))
    # After HexGUI's swap of black c1, with white a2 and black b2 played since, white to move:
    moves, transposed = game_moves([2, 5], [4], 1, n, swapped_first=2)
    assert transposed and moves == [2, n * n, 1, 5]
    hexgui = np.zeros((n, n), np.int8)
    hexgui.flat[[2, 5]], hexgui.flat[4] = 1, -1
    np.testing.assert_array_equal(replay(n, moves, swap=True)[-1], transpose_swap_board(hexgui))
    # Two black stones more than white: no game gets there.
    assert game_moves([0, 1, 2], [5], 0, n) is None and game_moves([0, 1, 2], [5], 1, n) is None
