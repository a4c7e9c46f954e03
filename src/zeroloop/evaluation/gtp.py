"""A GTP engine for Hex, as HexGUI and MoHex speak it.

Go Text Protocol, version 2, with Hex's colours and cells:

* colours `b`/`black` (first player, connects top and bottom) and `w`/`white`
  (connects left and right), case-insensitive;
* cells as in TRMPH: column letter, row number, `a1` top left (`c3` = column c, row 3);
* `swap-pieces` (also accepted: `swap`) is the swap move, legal as the second move when
  the swap rule is on; `resign` gives the game up.

Commands: protocol_version, name, version, known_command, list_commands, quit,
boardsize, clear_board, play, genmove, undo, showboard, final_score, set_swap.
A response is `=[id] result` or `?[id] reason`, then an empty line. Unknown commands,
bad arguments and illegal moves are answered with `? reason` and the engine carries
on; only `quit` and the end of the input stop it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TextIO

import numpy as np

from zeroloop.config.game import GameConfig
from zeroloop.evaluation.agents import Agent, legal_moves
from zeroloop.games.board import replay
from zeroloop.games.board import winner as board_winner
from zeroloop.games.trmph import TrmphError, cell_name, parse_cell

PROTOCOL_VERSION = "2"
SWAP_NAMES = ("swap-pieces", "swap")
COLOURS = {"b": 0, "black": 0, "w": 1, "white": 1}
COLOUR_NAMES = ("black", "white")

AgentFactory = Callable[[GameConfig], Agent]


class GtpError(Exception):
    """A command that fails: the message becomes the `? reason` response."""


def board_text(board: np.ndarray, last: str | None = None) -> str:
    """Plain-text picture of an int8 [N, N] board (+1 black X, -1 white O).

    Each row is shifted half a cell right, as on a Hex board. Letters (columns) mark
    black's edges, top and bottom; numbers (rows) white's, left and right.
    """
    n = board.shape[0]
    w = len(str(n))
    letters = " ".join(chr(97 + c) for c in range(n))
    marks = {1: "X", -1: "O", 0: "."}
    lines = [" " * (w + 1) + letters]
    for r in range(n):
        row = " ".join(marks[int(v)] for v in board[r])
        lines.append(" " * r + f"{r + 1:>{w}} {row} {r + 1}")
    lines.append(" " * (n + w) + letters)
    if last:
        lines.append(f"last move: {last}")
    return "\n".join(lines)


class GtpEngine:
    """The engine's game state and command table (no I/O: see `run`).

    agent_factory: builds the agent that answers `genmove` for a board size and swap
        rule; called again when `boardsize` or `set_swap` changes them.
    """

    def __init__(
        self,
        agent_factory: AgentFactory,
        board_size: int = 11,
        swap: bool = False,
        name: str = "zeroloop",
        version: str = "0.1.0",
    ) -> None:
        self._factory = agent_factory
        self.game = GameConfig(board_size=board_size, swap=swap)
        self.name = name
        self.version = version
        self.moves: list[int] = []
        self.resigned: int | None = None  # colour that resigned
        self._agent: Agent | None = None
        self.done = False
        self.commands: dict[str, Callable[[list[str]], str]] = {
            "protocol_version": lambda a: PROTOCOL_VERSION,
            "name": lambda a: self.name,
            "version": lambda a: self.version,
            "known_command": self._known_command,
            "list_commands": lambda a: "\n".join(self.commands),
            "quit": self._quit,
            "boardsize": self._boardsize,
            "clear_board": self._clear_board,
            "play": self._play,
            "genmove": self._genmove,
            "undo": self._undo,
            "showboard": self._showboard,
            "final_score": self._final_score,
            "set_swap": self._set_swap,
        }

    # ---- state ------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return self.game.board_size

    def board(self) -> np.ndarray:
        """int8 [N, N] current position, board frame."""
        return replay(self.n, self.moves, swap=self.game.swap, check_end=False)[-1]

    def to_play(self) -> int:
        to_play = 0
        for m in self.moves:
            to_play = 0 if m == self.n * self.n else 1 - to_play
        return to_play

    def winner(self) -> int | None:
        if self.resigned is not None:
            return 1 - self.resigned
        return board_winner(self.board())

    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = self._factory(self.game)
        return self._agent

    def move_name(self, move: int) -> str:
        return SWAP_NAMES[0] if move == self.n * self.n else cell_name(move, self.n)

    # ---- commands ---------------------------------------------------------------------

    def _known_command(self, args: list[str]) -> str:
        return "true" if args and args[0] in self.commands else "false"

    def _quit(self, args: list[str]) -> str:
        self.done = True
        return ""

    def _boardsize(self, args: list[str]) -> str:
        try:
            sizes = [int(a) for a in args]
        except ValueError:
            raise GtpError("boardsize is not an integer") from None
        if not 1 <= len(sizes) <= 2:
            raise GtpError("usage: boardsize N")
        if len(sizes) == 2 and sizes[0] != sizes[1]:
            raise GtpError("unacceptable size: only square boards")
        if not 2 <= sizes[0] <= 19:
            raise GtpError("unacceptable size: 2..19")
        if sizes[0] != self.n:
            self.game = GameConfig(board_size=sizes[0], swap=self.game.swap)
            self._agent = None
        return self._clear_board([])

    def _clear_board(self, args: list[str]) -> str:
        self.moves = []
        self.resigned = None
        return ""

    def _set_swap(self, args: list[str]) -> str:
        if len(args) != 1 or args[0].lower() not in ("on", "off", "1", "0", "true", "false"):
            raise GtpError("usage: set_swap on|off")
        swap = args[0].lower() in ("on", "1", "true")
        if swap != self.game.swap:
            if not swap and self.n * self.n in self.moves:
                raise GtpError("the game has a swap: clear the board first")
            self.game = GameConfig(board_size=self.n, swap=swap)
            self._agent = None
        return ""

    def _colour(self, text: str) -> int:
        try:
            return COLOURS[text.lower()]
        except KeyError:
            raise GtpError(f"invalid color {text!r} (b, black, w or white)") from None

    def _check_turn(self, colour: int) -> None:
        if self.winner() is not None:
            raise GtpError("game is over")
        if colour != self.to_play():
            raise GtpError(f"it is {COLOUR_NAMES[self.to_play()]}'s turn")

    def _play(self, args: list[str]) -> str:
        if len(args) != 2:
            raise GtpError("usage: play COLOR MOVE")
        colour = self._colour(args[0])
        text = args[1].lower()
        self._check_turn(colour)
        if text == "resign":
            self.resigned = colour
            return ""
        if text in SWAP_NAMES:
            move = self.n * self.n
        else:
            try:
                move = parse_cell(text, self.n)
            except TrmphError as exc:
                raise GtpError(f"illegal move: {exc.reason}") from None
        if move not in legal_moves(self.moves, self.n, self.game.swap):
            raise GtpError(f"illegal move: {self._why_illegal(move, text)}")
        self.moves.append(move)
        return ""

    def _why_illegal(self, move: int, text: str) -> str:
        if move != self.n * self.n:
            return f"{text} is occupied"
        if not self.game.swap:
            return "the swap rule is off (set_swap on)"
        return "swap is only legal as the second move"

    def _genmove(self, args: list[str]) -> str:
        if len(args) != 1:
            raise GtpError("usage: genmove COLOR")
        colour = self._colour(args[0])
        self._check_turn(colour)
        move = int(self.agent().choose_moves([list(self.moves)])[0])
        if move not in legal_moves(self.moves, self.n, self.game.swap):
            raise GtpError(f"engine error: generated illegal move {move}")
        self.moves.append(move)
        return self.move_name(move)

    def _undo(self, args: list[str]) -> str:
        if self.resigned is not None:
            self.resigned = None
            return ""
        if not self.moves:
            raise GtpError("cannot undo: no moves")
        self.moves.pop()
        return ""

    def _showboard(self, args: list[str]) -> str:
        last = self.move_name(self.moves[-1]) if self.moves else None
        text = "\n" + board_text(self.board(), last)
        w = self.winner()
        if w is not None:
            text += f"\n{COLOUR_NAMES[w]} wins"
        return text

    def _final_score(self, args: list[str]) -> str:
        w = self.winner()
        if w is None:
            raise GtpError("game is not over")
        return "B+" if w == 0 else "W+"

    # ---- protocol ---------------------------------------------------------------------

    def handle(self, line: str) -> str | None:
        """One input line -> the full response text, or None for a blank/comment line."""
        line = _clean(line)
        if not line:
            return None
        parts = line.split()
        cmd_id = ""
        if parts[0].isdigit():
            cmd_id, parts = parts[0], parts[1:]
            if not parts:
                return f"?{cmd_id} missing command\n\n"
        command, args = parts[0].lower(), parts[1:]
        handler = self.commands.get(command)
        if handler is None:
            return f"?{cmd_id} unknown command\n\n"
        try:
            result = handler(args)
        except GtpError as exc:
            return f"?{cmd_id} {exc}\n\n"
        return f"={cmd_id} {result}\n\n"

    def run(self, inp: TextIO, out: TextIO) -> None:
        """Answer commands from `inp` on `out` until `quit` or the end of the input."""
        for line in inp:
            response = self.handle(line)
            if response is None:
                continue
            out.write(response)
            out.flush()
            if self.done:
                break


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(line: str) -> str:
    # GTP preprocessing: drop control characters but tab, tabs become spaces, no comments.
    line = _CONTROL.sub("", line.replace("\t", " "))
    return line.split("#", 1)[0].strip()
