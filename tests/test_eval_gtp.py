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
play b c3
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

= \n\n? it is white's turn

? illegal move: b2 is occupied

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
    script = "boardsize 3\nplay w swap\nplay b a2\nplay w swap-pieces\nshowboard\nplay b swap\n"
    got = session(script, swap=True).split("\n\n")
    assert got[1] == "? it is black's turn"
    assert got[3] == "= "
    # a2 = (row 1, col 0) mirrors to b1 = (row 0, col 1), now white; black to move.
    assert got[4].splitlines()[2] == "1 . O . 1"
    assert got[5] == "? illegal move: swap is only legal as the second move"
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
