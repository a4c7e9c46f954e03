"""Read and write Hex games in TRMPH notation.

A record is `http://www.trmph.com/hex/board#13,a1b2c3` (URL form) or `#13,a1b2c3`
(bare form): the board size, a comma, then the moves. A move is a column letter
(a = left) and a row number (1 = top), so cell index = (row - 1) * N + column. The
swap is written as the first cell repeated at move 2. A game file holds one record a
line, optionally followed by whitespace and a result: `1`/`b` the first player won,
`2`/`r` the second player won; zeroloop.games.trmph_file reads and writes such files.
See docs/trmph.md for the full description.

Legality and the winner are checked with an incremental union-find over the moves
rather than `board.replay`/`board.winner`, because the data stage parses about a
million positions' worth of records and those helpers search the whole board at every
ply. The two agree on every game (tests cross-check them, swap included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np

MIN_BOARD_SIZE = 2
MAX_BOARD_SIZE = 19  # one letter per column: a..s
URL_PREFIX = "http://www.trmph.com/hex/board#"

FIRST_PLAYER = 0
SECOND_PLAYER = 1

# A record: optional trmph.com URL (http or https, with or without www), then
# "#N,moves"; the "#" may be left out of a bare record, because "13,a1b2" cannot be
# mistaken for anything else.
_RECORD_RE = re.compile(
    r"(?:(?:https?://(?:www\.)?trmph\.com/hex/board)?#)?(\d{1,4}),([^\s]*)",
    re.IGNORECASE,
)
# Moves: a letter and a row number without a leading zero. The fast path checks the
# whole string once with _MOVES_RE, splits it with _MOVE_TOKEN_RE.findall and maps each
# token to a cell with a per-size dict; only a string that fails the check is scanned
# again, slowly, to say where it went wrong.
_MOVE_RE = re.compile(r"([a-zA-Z])([1-9][0-9]?)")
_MOVES_RE = re.compile(r"(?:[a-zA-Z][1-9][0-9]?)*")
_MOVE_TOKEN_RE = re.compile(r"[a-zA-Z][1-9][0-9]?")
_BAD_TOKEN_RE = re.compile(r"[a-zA-Z]?[0-9]*")

_RESULTS = {"1": FIRST_PLAYER, "b": FIRST_PLAYER, "2": SECOND_PLAYER, "r": SECOND_PLAYER}
_PLAYER_NAMES = ("first player", "second player")


class TrmphError(ValueError):
    """A record (or a file) that cannot be read; `reason` says why, without a location."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrmphFileError(TrmphError):
    """A whole file cannot be read as TRMPH text (for example a binary file)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(reason)
        self.path = os.fspath(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TrmphGame:
    """One game read from TRMPH.

    board_size: N, 2..19.
    moves:      actions in the board frame (cell = row * N + col, N*N = swap).
    winner:     0 the first player (connects top-bottom) won, 1 the second player.
                Either computed from the final position or, for an unfinished
                (resigned) game, taken from the result column.
    swap:       True when move 2 is the swap. A record without one does not say
                whether the swap rule was on; `board.replay(N, moves, swap=game.swap)`
                replays the game either way.
    line:       1-based line in the file it came from; 0 when parsed from a string.
    """

    board_size: int
    moves: tuple[int, ...]
    winner: int
    swap: bool
    line: int = 0

    def record(self, url: bool = True) -> str:
        """This game as one TRMPH line with its result column (see `format_record`)."""
        return format_record(self.board_size, self.moves, self.winner, url=url)


@dataclass(frozen=True, slots=True)
class TrmphIssue:
    """A bad record: where it is and why it was skipped. `str()` is `PATH:LINE: reason`."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class GameLike(Protocol):
    """Anything with a size, board-frame moves and a winner (TrmphGame, data.chunks.GameRecord)."""

    @property
    def board_size(self) -> int: ...
    @property
    def moves(self) -> Sequence[int] | np.ndarray: ...
    @property
    def winner(self) -> int: ...


# ---- coordinates ---------------------------------------------------------------------


def cell_name(cell: int, board_size: int) -> str:
    """Cell index -> TRMPH coordinate: 0 -> "a1", 1 -> "b1", N -> "a2"."""
    row, col = divmod(cell, board_size)
    return f"{chr(97 + col)}{row + 1}"


def parse_cell(name: str, board_size: int) -> int:
    """TRMPH coordinate -> cell index; raises TrmphError when it is malformed or off the board."""
    m = _MOVE_RE.fullmatch(name)
    if m is None:
        raise TrmphError(f"bad coordinate {name!r} (expected a column letter and a row number, e.g. 'c3')")
    col = ord(m.group(1).lower()) - 97
    row = int(m.group(2)) - 1
    if col >= board_size or row >= board_size:
        raise TrmphError(f"cell {name} is off the {board_size}x{board_size} board")
    return row * board_size + col


def _check_size(board_size: int) -> None:
    if not MIN_BOARD_SIZE <= board_size <= MAX_BOARD_SIZE:
        raise TrmphError(
            f"unsupported board size {board_size} (zeroloop reads {MIN_BOARD_SIZE}..{MAX_BOARD_SIZE})"
        )


# ---- playing a record ----------------------------------------------------------------


@cache
def _geometry(n: int) -> tuple[dict[str, int], list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Per board size: coordinate -> cell, and for each cell the nodes a stone joins.

    The union-find has N*N cells and four virtual edge nodes: N*N top, N*N+1 bottom
    (the first player's), N*N+2 left, N*N+3 right (the second player's). links[p][cell]
    lists the in-board neighbours of `cell` followed by the edge nodes a stone of player
    p on it touches; a player has won when their two edge nodes share a root.
    """
    cells: dict[str, int] = {}
    links: tuple[list[tuple[int, ...]], list[tuple[int, ...]]] = ([], [])
    top, bottom, left, right = n * n, n * n + 1, n * n + 2, n * n + 3
    for r in range(n):
        for c in range(n):
            cells[f"{chr(97 + c)}{r + 1}"] = cells[f"{chr(65 + c)}{r + 1}"] = r * n + c
            nbs = [
                (r + dr) * n + c + dc
                for dr, dc in ((-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0))
                if 0 <= r + dr < n and 0 <= c + dc < n
            ]
            links[0].append(tuple(nbs + [e for e, on in ((top, r == 0), (bottom, r == n - 1)) if on]))
            links[1].append(tuple(nbs + [e for e, on in ((left, c == 0), (right, c == n - 1)) if on]))
    return cells, links[0], links[1]


def _play(n: int, text: str) -> tuple[tuple[int, ...], bool, int | None]:
    """Parse and play the move string of an N x N record.

    Returns (moves, swap, winner on the board or None). Raises TrmphError naming the
    first bad move (1-based) for a malformed coordinate, a cell off the board, an
    occupied cell, a swap anywhere but move 2, or a move after the game ended.
    """
    if _MOVES_RE.fullmatch(text) is None:
        raise TrmphError(_describe_bad_moves(text))
    names = _MOVE_TOKEN_RE.findall(text)
    lookup, black_links, white_links = _geometry(n)
    num_cells = n * n
    moves = [lookup.get(name, -1) for name in names]
    # colour[x]: 0 empty, 1 first player, 2 second player; the four edge nodes carry
    # their owner's colour so that one membership test covers neighbours and edges.
    colour = [0] * num_cells + [1, 1, 2, 2]
    parent = list(range(num_cells + 4))
    swap = False
    to_play = 0
    for ply, cell in enumerate(moves):
        if cell < 0:
            raise TrmphError(f"move {ply + 1} ({names[ply]}): cell is off the {n}x{n} board")
        if colour[cell]:
            if ply != 1:
                hint = " (a swap is written only as move 2)" if not swap and cell == moves[0] else ""
                raise TrmphError(f"move {ply + 1} ({names[ply]}): cell is already occupied{hint}")
            # The first cell repeated at move 2 is the swap: the stone is mirrored
            # across the long diagonal and becomes the second player's, and the first
            # player moves again. One stone was on the board, so the union-find starts
            # afresh with the mirrored stone placed as a second-player move.
            colour[cell] = 0
            parent[:] = range(num_cells + 4)
            row, col = divmod(cell, n)
            cell = col * n + row
            moves[1] = num_cells
            swap = True
            to_play = 0
            mine, links = 2, white_links
        else:
            mine, links = (1, black_links) if to_play == 0 else (2, white_links)
            to_play ^= 1
        colour[cell] = mine
        # Union the new stone with same-coloured neighbours and edges; roots found by
        # path halving keep the trees shallow without recursion.
        for other in links[cell]:
            if colour[other] == mine:
                while parent[other] != other:
                    parent[other] = parent[parent[other]]
                    other = parent[other]
                if other != cell:
                    parent[other] = cell
        # The mover has won when their two edge nodes share a root.
        a, b = (num_cells, num_cells + 1) if mine == 1 else (num_cells + 2, num_cells + 3)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a == b:
            if ply + 1 < len(moves):
                raise TrmphError(
                    f"move {ply + 2} ({names[ply + 1]}) comes after the game ended "
                    f"(the {_PLAYER_NAMES[mine - 1]} connected at move {ply + 1})"
                )
            return tuple(moves), swap, mine - 1
    return tuple(moves), swap, None


def _describe_bad_moves(text: str) -> str:
    """Say where a move string stops being a sequence of coordinates (the slow path)."""
    pos = 0
    ply = 0
    while pos < len(text):
        m = _MOVE_RE.match(text, pos)
        if m is None:
            bad = _BAD_TOKEN_RE.match(text, pos)
            token = bad.group(0) if bad and bad.group(0) else text[pos]
            return (
                f"move {ply + 1}: bad coordinate {token!r} "
                "(expected a column letter a..s and a row number 1..19, e.g. 'c3')"
            )
        pos = m.end()
        ply += 1
    return "bad moves"  # unreachable when the fast check failed


# ---- records -------------------------------------------------------------------------


def parse_record(text: str) -> TrmphGame:
    """Parse one line: a record in URL or bare form, optionally whitespace and a result.

    Returns the game with `line=0`. Raises TrmphError with a reason for an unreadable
    record or result, an unsupported size, an illegal move, a result that contradicts
    a finished final position, or an unfinished game without a result (its winner is
    never guessed). An unfinished game with a result (a resignation) keeps that result.
    """
    parts = text.split()
    if not parts:
        raise TrmphError("empty record")
    m = _RECORD_RE.fullmatch(parts[0])
    if m is None:
        shown = parts[0] if len(parts[0]) <= 60 else parts[0][:57] + "..."
        raise TrmphError(
            f"not a TRMPH record: {shown!r} (expected 'http://www.trmph.com/hex/board#N,moves' or '#N,moves')"
        )
    board_size = int(m.group(1))
    _check_size(board_size)
    if len(parts) > 2:
        raise TrmphError(f"unexpected text after the result: {' '.join(parts[2:])!r}")
    result: int | None = None
    if len(parts) == 2:
        result = _RESULTS.get(parts[1].lower())
        if result is None:
            raise TrmphError(
                f"unreadable result {parts[1]!r} "
                "(expected 1 or b: first player won, 2 or r: second player won)"
            )
    moves, swap, on_board = _play(board_size, m.group(2))
    if on_board is None:
        if result is None:
            n = len(moves)
            raise TrmphError(
                f"unfinished game ({n} move{'s' if n != 1 else ''}, nobody connected) and no result column"
            )
        winner = result
    else:
        if result is not None and result != on_board:
            raise TrmphError(
                f"result says the {_PLAYER_NAMES[result]} won, "
                f"but the final position is a win for the {_PLAYER_NAMES[on_board]}"
            )
        winner = on_board
    return TrmphGame(board_size, moves, winner, swap)


def parse_position(text: str) -> tuple[int, tuple[int, ...], bool]:
    """Parse a record that may be unfinished (a position to analyse, not a game).

    `text` is one record in URL or bare form, without a result column. Returns
    (board size, board-frame moves, swap). Raises TrmphError like `parse_record` for
    an unreadable record, an unsupported size or an illegal move.
    """
    stripped = text.strip()
    m = _RECORD_RE.fullmatch(stripped)
    if m is None:
        shown = stripped if len(stripped) <= 60 else stripped[:57] + "..."
        raise TrmphError(
            f"not a TRMPH record: {shown!r} (expected 'http://www.trmph.com/hex/board#N,moves' or '#N,moves')"
        )
    board_size = int(m.group(1))
    _check_size(board_size)
    moves, swap, _ = _play(board_size, m.group(2))
    return board_size, moves, swap


def format_record(
    board_size: int,
    moves: Sequence[int] | np.ndarray,
    winner: int | None = None,
    url: bool = False,
) -> str:
    """Write a game as a TRMPH record, with a ` 1`/` 2` result column when `winner` is given.

    moves: board-frame actions (N*N = swap, allowed only as move 2). url: the
    `http://www.trmph.com/hex/board#` form people paste into a browser, else `#N,...`.
    Only the notation is checked (size, cells on the board, swap position); the moves
    are not replayed, so an unfinished position can be written for display.
    """
    board_size = int(board_size)
    _check_size(board_size)
    num_cells = board_size * board_size
    names = []
    for ply, move in enumerate(moves):
        move = int(move)
        if move == num_cells:
            if ply != 1:
                raise TrmphError(f"move {ply + 1}: a swap is allowed only as move 2")
            move = int(moves[0])  # the swap is written as the first cell repeated
        elif not 0 <= move < num_cells:
            raise TrmphError(f"move {ply + 1}: {move} is not a cell of the {board_size}x{board_size} board")
        names.append(cell_name(move, board_size))
    record = f"{URL_PREFIX if url else '#'}{board_size},{''.join(names)}"
    if winner is None:
        return record
    if winner not in (FIRST_PLAYER, SECOND_PLAYER):
        raise TrmphError(f"winner must be 0 (first player) or 1 (second player), got {winner!r}")
    return f"{record} {int(winner) + 1}"
