"""A GTP engine for Hex, as HexGUI and benzene (MoHex, Wolve) speak it.

Go Text Protocol, version 2, with Hex's colours and cells:

* colours `b`/`black` (first player, connects top and bottom) and `w`/`white`
  (connects left and right), case-insensitive;
* cells as in TRMPH: column letter, row number, `a1` top left (`c3` = column c, row 3);
* `swap-pieces` (also accepted: `swap`) is the swap move, `resign` gives the game up.

Conventions taken from HexGUI's and benzene's sources (read in ryanbhayward/hexgui
`src/hexgui/gui/HexGui.java`, cgao3/benzene-vanilla-cmake `src/hex/HexHtpEngine.cpp`,
`Game.cpp`, `StoneBoard.cpp`):

* `play COLOR CELL` places a stone of either colour, whoever is "on move": HexGUI
  sends setup stones this way (`addSetupMove` -> `htpPlay`), and its "toggle to move"
  changes only its own idea of the mover. The engine's mover becomes the other colour
  (HexGUI's `cmdToggleToMove` after a move); `genmove COLOR` generates for the colour
  it names, as benzene's `CmdGenMove` does.
* swap follows HexGUI and benzene, not our internal "mirror the stone" form: `play
  white swap-pieces` leaves the board as it is (benzene's `StoneBoard::playMove` only
  marks the swap played; HexGUI draws a swap mark on the first stone) and the swapper
  stays on move (HexGUI's `play()` does not toggle the mover after `SWAP_PIECES`, and
  `determineColorToMove` keeps the swap's colour). The position is the same game as
  ours with the board transposed and the colours exchanged, which is how it is handed
  to the agent (see `GtpEngine.agent_moves`).
* `final_score` answers `B+`/`W+` when a side has connected and `cannot score`
  otherwise, as benzene's `CmdFinalScore`; `time_left` and `param_game` (with
  `allow_swap` and `game_time`) as benzene's `CmdTimeLeft` and `CmdParamGame`;
  `boardsize N` or `boardsize N N` (HexGUI sends width and height; only square boards).
* `hexgui-analyze_commands`, sent by HexGUI on connect before `boardsize`, lists the
  analyze commands in HexGUI's `type/label/command` form (`AnalyzeDefinition`).

A response is `=[id] result` or `?[id] reason`, then an empty line. Unknown commands,
bad arguments, illegal moves and any error inside a command are answered with
`? reason` and the engine carries on; only `quit` and the end of the input stop it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import NamedTuple, TextIO

import numpy as np

from zeroloop.config.game import GameConfig
from zeroloop.evaluation.agents import Agent, legal_moves
from zeroloop.evaluation.gtp_position import board_text, game_moves
from zeroloop.games.board import transpose_move
from zeroloop.games.board import winner as board_winner
from zeroloop.games.trmph import TrmphError, cell_name, parse_cell

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "2"
SWAP_NAMES = ("swap-pieces", "swap")
COLOURS = {"b": 0, "black": 0, "w": 1, "white": 1}
COLOUR_NAMES = ("black", "white")
DEFAULT_GAME_TIME = 1800.0  # seconds, benzene's default `game_time`
# HexGUI's analyze menu: type/label/command, one a line (all commands this engine has).
ANALYZE_COMMANDS = (
    "param/Game Parameters/param_game",
    "string/Final Score/final_score",
    "string/Time Left/time_left",
)

AgentFactory = Callable[[GameConfig], Agent]


class GtpError(Exception):
    """A command that fails: the message becomes the `? reason` response."""


class Played(NamedTuple):
    """One `play`/`genmove` in the engine's history: colour, cell (N*N = swap), mover before."""

    colour: int
    move: int
    to_move_before: int


class GtpEngine:
    """The engine's game state and command table (no I/O: see `run`).

    agent_factory: builds the agent that answers `genmove` for a board size and swap
        rule; called again when `boardsize`, `set_swap` or `param_game allow_swap`
        changes them.
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
        self.history: list[Played] = []
        self.to_move = 0
        self.resigned: int | None = None  # colour that resigned
        self.game_time = DEFAULT_GAME_TIME
        self.time_left = [DEFAULT_GAME_TIME, DEFAULT_GAME_TIME]
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
            "time_left": self._time_left,
            "param_game": self._param_game,
            "set_swap": self._set_swap,
            "hexgui-analyze_commands": lambda a: "\n".join(ANALYZE_COMMANDS),
        }

    # ---- state ------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return self.game.board_size

    @property
    def swap_action(self) -> int:
        return self.n * self.n

    def swapped(self) -> bool:
        return any(p.move == self.swap_action for p in self.history)

    def stones(self, colour: int) -> list[int]:
        """Cells of `colour`'s stones in the order they were played (HexGUI's frame)."""
        return [p.move for p in self.history if p.colour == colour and p.move != self.swap_action]

    def board(self) -> np.ndarray:
        """int8 [N, N] current position as HexGUI shows it (+1 black, -1 white)."""
        board = np.zeros(self.n * self.n, np.int8)
        board[self.stones(0)] = 1
        board[self.stones(1)] = -1
        return board.reshape(self.n, self.n)

    def to_play(self) -> int:
        return self.to_move

    def winner(self) -> int | None:
        if self.resigned is not None:
            return 1 - self.resigned
        return board_winner(self.board())

    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = self._factory(self.game)
        return self._agent

    def move_name(self, move: int) -> str:
        return SWAP_NAMES[0] if move == self.swap_action else cell_name(move, self.n)

    def agent_moves(self, colour: int) -> tuple[list[int], bool]:
        """The position with `colour` to move as a move list the agent can replay.

        Returns (moves in our board frame, transposed); see `gtp_position.game_moves`.
        Raises GtpError for stone counts no game reaches.
        """
        black, white = self.stones(0), self.stones(1)
        first = self.history[0].move if self.swapped() else None
        found = game_moves(black, white, colour, self.n, swapped_first=first)
        if found is None:
            raise GtpError(
                f"cannot generate a move: {len(black)} black and {len(white)} white stones with "
                f"{COLOUR_NAMES[colour]} to move is not a position of a game"
            )
        return found

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
            raise GtpError("usage: boardsize N [N]")
        if len(sizes) == 2 and sizes[0] != sizes[1]:
            raise GtpError("unacceptable size: only square boards")
        if not 2 <= sizes[0] <= 19:
            raise GtpError("unacceptable size: 2..19")
        if sizes[0] != self.n:
            self.game = GameConfig(board_size=sizes[0], swap=self.game.swap)
            self._agent = None
        return self._clear_board([])

    def _clear_board(self, args: list[str]) -> str:
        self.history = []
        self.to_move = 0
        self.resigned = None
        self.time_left = [self.game_time, self.game_time]
        return ""

    def _set_swap(self, args: list[str]) -> str:
        if len(args) != 1 or args[0].lower() not in ("on", "off", "1", "0", "true", "false"):
            raise GtpError("usage: set_swap on|off")
        self._apply_swap(args[0].lower() in ("on", "1", "true"))
        return ""

    def _apply_swap(self, swap: bool) -> None:
        if swap != self.game.swap:
            if not swap and self.swapped():
                raise GtpError("the game has a swap: clear the board first")
            self.game = GameConfig(board_size=self.n, swap=swap)
            self._agent = None

    def _colour(self, text: str) -> int:
        try:
            return COLOURS[text.lower()]
        except KeyError:
            raise GtpError(f"invalid color {text!r} (b, black, w or white)") from None

    def _parse_move(self, text: str) -> int:
        if text in SWAP_NAMES:
            return self.swap_action
        try:
            return parse_cell(text, self.n)
        except TrmphError as exc:
            raise GtpError(f"illegal move: {exc.reason}") from None

    def _place(self, colour: int, move: int, text: str) -> None:
        """Play `move` for `colour` (any colour: set-up stones are plays too)."""
        if move == self.swap_action:
            if not self.game.swap:
                raise GtpError("illegal move: the swap rule is off (set_swap on)")
            if self.swapped() or len(self.history) != 1 or self.history[0].colour != 0:
                raise GtpError("illegal move: swap is only legal right after black's first stone")
            if colour != 1:
                raise GtpError("illegal move: only white can swap")
            self.history.append(Played(colour, move, self.to_move))
            self.to_move = colour  # HexGUI: the swapper stays on move
            return
        if self.board().reshape(-1)[move] != 0:
            raise GtpError(f"illegal move: {text} is occupied")
        self.history.append(Played(colour, move, self.to_move))
        self.to_move = 1 - colour

    def _play(self, args: list[str]) -> str:
        if len(args) != 2:
            raise GtpError("usage: play COLOR MOVE")
        colour = self._colour(args[0])
        text = args[1].lower()
        if self.winner() is not None:
            raise GtpError("game is over")
        if text == "resign":
            self.resigned = colour
            return ""
        self._place(colour, self._parse_move(text), text)
        return ""

    def _genmove(self, args: list[str]) -> str:
        if len(args) != 1:
            raise GtpError("usage: genmove COLOR")
        colour = self._colour(args[0])
        if self.winner() is not None:
            raise GtpError("game is over")
        moves, transposed = self.agent_moves(colour)
        move = int(self.agent().choose_moves([moves])[0])
        if move not in legal_moves(moves, self.n, self.game.swap):
            raise GtpError(f"engine error: generated illegal move {move}")
        if move == self.swap_action and transposed:
            raise GtpError("engine error: the agent chose swap-pieces where it is not legal")
        if transposed:
            move = transpose_move(move, self.n)
        self._place(colour, move, self.move_name(move))
        return self.move_name(move)

    def _undo(self, args: list[str]) -> str:
        if self.resigned is not None:
            self.resigned = None
            return ""
        if not self.history:
            raise GtpError("cannot undo: no moves")
        self.to_move = self.history.pop().to_move_before
        return ""

    def _showboard(self, args: list[str]) -> str:
        last = self.move_name(self.history[-1].move) if self.history else None
        text = "\n" + board_text(self.board(), last)
        w = self.winner()
        if w is not None:
            text += f"\n{COLOUR_NAMES[w]} wins"
        return text

    def _final_score(self, args: list[str]) -> str:
        w = self.winner()
        if w is None:
            return "cannot score"
        return "B+" if w == 0 else "W+"

    def _time_left(self, args: list[str]) -> str:
        """`time_left`, `time_left COLOR` report; `time_left COLOR SECONDS [STONES]` sets.

        The clocks are kept for the GUI only: the search budget is a number of
        simulations, not a time.
        """
        if not args:
            return f"Black: {_clock(self.time_left[0])}, White: {_clock(self.time_left[1])}"
        colour = self._colour(args[0])
        if len(args) == 1:
            return _clock(self.time_left[colour])
        if len(args) > 3:
            raise GtpError("usage: time_left [COLOR [SECONDS [STONES]]]")
        try:
            self.time_left[colour] = float(args[1])
        except ValueError:
            raise GtpError(f"time_left: {args[1]!r} is not a number of seconds") from None
        return ""

    def _param_game(self, args: list[str]) -> str:
        if not args:
            return f"\n[bool] allow_swap {int(self.game.swap)}\n[string] game_time {self.game_time:g}"
        if len(args) != 2:
            raise GtpError("Expected 0 or 2 arguments")
        name, value = args[0], args[1].lower()
        if name == "allow_swap":
            if value not in ("0", "1", "true", "false"):
                raise GtpError(f"allow_swap: expected 0 or 1, got {args[1]!r}")
            self._apply_swap(value in ("1", "true"))
        elif name == "game_time":
            try:
                self.game_time = float(value)
            except ValueError:
                raise GtpError(f"game_time: {args[1]!r} is not a number of seconds") from None
        else:
            raise GtpError(f"unknown parameter {name!r} (allow_swap, game_time)")
        return ""

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
        except Exception as exc:  # a bug or a broken model must not end the session
            log.exception("GTP command %r failed", line)
            message = " ".join(str(exc).split()) or type(exc).__name__
            return f"?{cmd_id} internal error: {message}\n\n"
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


def _clock(seconds: float) -> str:
    whole = max(0, int(round(seconds)))
    return f"{whole // 60}:{whole % 60:02d}"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(line: str) -> str:
    # GTP preprocessing: drop control characters but tab, tabs become spaces, no comments.
    line = _CONTROL.sub("", line.replace("\t", " "))
    return line.split("#", 1)[0].strip()
