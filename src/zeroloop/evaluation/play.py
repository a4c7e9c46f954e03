"""Play against the model in the terminal: the board is drawn, you type cells like `c3`.

The session reads lines from `read_line` (stdin in the CLI), so it can be scripted:
any line that is not a legal move is answered with the reason and asked again.
Besides cells it understands `swap` (when the swap rule is on), `undo` (takes back
your last move and the model's reply), `resign`, `quit` and `help`; the end of the
input quits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zeroloop.config.game import GameConfig
from zeroloop.evaluation.agents import Agent, legal_moves
from zeroloop.games.board import mover_at, replay
from zeroloop.games.board import winner as board_winner
from zeroloop.games.trmph import TrmphError, cell_name, format_record, parse_cell

COLOUR_NAMES = ("black", "white")
HELP = (
    "Enter a cell as column letter + row number (e.g. c3). Black (X) connects top and bottom, "
    "white (O) left and right. Also: swap, undo, resign, quit, help."
)

Draw = Callable[[np.ndarray, int | None], Any]


def play_session(
    agent: Agent,
    game: GameConfig,
    human: int,
    read_line: Callable[[str], str],
    say: Callable[[Any], None],
    draw: Draw,
) -> int | None:
    """Run one game; returns the winner (0 black, 1 white) or None when the person quits.

    agent: answers the model's moves.     human: the person's colour, 0 black or 1 white.
    read_line(prompt) -> the person's next line; raises EOFError at the end of input.
    say(x) prints text or a rich renderable; draw(board [N, N], last cell) -> renderable.
    """
    n = game.board_size
    swap_action = n * n
    moves: list[int] = []
    say(f"You play {COLOUR_NAMES[human]} ({'X' if human == 0 else 'O'}). {HELP}")
    while True:
        board = replay(n, moves, swap=game.swap, check_end=False)[-1]
        last = moves[-1] if moves and moves[-1] != swap_action else None
        say(draw(board, last))
        winner = board_winner(board)
        if winner is not None:
            say(f"{COLOUR_NAMES[winner]} wins ({'you' if winner == human else 'the model'}).")
            say(f"game: {format_record(n, moves, winner)}")
            return winner
        mover = mover_at(len(moves))
        if mover != human:
            move = int(agent.choose_moves([list(moves)])[0])
            name = "swap" if move == swap_action else cell_name(move, n)
            say(f"model ({COLOUR_NAMES[mover]}) plays {name}")
            moves.append(move)
            continue
        while True:
            try:
                text = read_line(f"your move ({COLOUR_NAMES[human]}): ").strip().lower()
            except EOFError:
                say("end of input: quitting")
                return None
            if text in ("quit", "exit", "q"):
                return None
            if text in ("help", "?", ""):
                say(HELP)
                continue
            if text == "resign":
                say(f"{COLOUR_NAMES[1 - human]} wins (you resigned).")
                return 1 - human
            if text == "undo":
                # Take back the person's last move and everything after it.
                mine = [i for i in range(len(moves)) if mover_at(i) == human]
                if not mine:
                    say("nothing to undo")
                    continue
                del moves[mine[-1] :]
                break
            move = _parse(text, n)
            if isinstance(move, str):
                say(move)
                continue
            if move not in legal_moves(moves, n, game.swap):
                say("swap is not legal now" if move == swap_action else f"{text} is occupied")
                continue
            moves.append(move)
            break


def _parse(text: str, n: int) -> int | str:
    """A move, or the reason the text is not one."""
    if text in ("swap", "swap-pieces"):
        return n * n
    try:
        return parse_cell(text, n)
    except TrmphError as exc:
        return exc.reason
