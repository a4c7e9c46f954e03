"""TRMPH game files: one record a line, read in bounded memory, written atomically.

The records themselves (parse, format, cells) are zeroloop.games.trmph.

Bad records never raise out of `read_trmph_file`: each becomes a `TrmphIssue`
(`PATH:LINE: reason`) and the good records are kept, because game collections from
outside are large and a few broken lines should not cost the rest.

Files are read in blocks of READ_BLOCK bytes, lines end at `\n`, `\r\n` or a lone
`\r` (old Mac files), and a line longer than MAX_LINE_BYTES is not kept in memory: it
is skipped and reported as `PATH:LINE: line too long (N bytes)`. So any file is read
in bounded memory (about one block plus one line) and time linear in its size.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from zeroloop.games.trmph import (
    GameLike,
    TrmphError,
    TrmphFileError,
    TrmphGame,
    TrmphIssue,
    format_record,
    parse_record,
)

# The longest record is a full 19x19 game: 361 moves of at most 3 characters plus the
# URL and a result, under 1,200 bytes. 64 KiB leaves room for comments and odd
# whitespace while keeping a runaway line (a binary blob, a file without line ends)
# from being held in memory or parsed.
MAX_LINE_BYTES = 64 * 1024
READ_BLOCK = 1 << 20
_EOL_RE = re.compile(rb"\r\n|\r|\n")
_EOL_TEXT_RE = re.compile(r"\r\n|\r|\n")

# The one-line test that separates a bare record ("#13,a1") from a comment ("# note").
_BARE_RECORD_START_RE = re.compile(r"#\d+,")


def is_comment(line: str) -> bool:
    """A stripped line starting with `#` that is not a bare record (`#13,...`)."""
    return line.startswith("#") and _BARE_RECORD_START_RE.match(line) is None


def iter_lines(
    stream: BinaryIO, max_line: int = MAX_LINE_BYTES, block: int = READ_BLOCK
) -> Iterator[tuple[int, bytes | None, int]]:
    """(1-based line number, the line's bytes or None when over `max_line`, its length).

    Lines end at `\n`, `\r\n` or `\r`; the ends are not included. Memory is one block
    plus at most `max_line` bytes of a line that spans blocks; a longer line is only
    measured. A final line without a line end is returned too.
    """
    number = 0
    rest = b""  # the start of the current line, while it is not over max_line
    rest_len = 0  # the current line's length so far
    while True:
        data = stream.read(block)
        if not data:
            break
        while data.endswith(b"\r"):  # the "\n" of a "\r\n" may start the next block
            more = stream.read(1)
            if not more:
                break
            data += more
        if rest_len > max_line:  # inside an overlong line: only look for its end
            m = _EOL_RE.search(data)
            if m is None:
                rest_len += len(data)
                continue
            number += 1
            yield number, None, rest_len + m.start()
            data, rest, rest_len = data[m.end() :], b"", 0
        parts = _EOL_RE.split(rest + data) if rest else _EOL_RE.split(data)
        for part in parts[:-1]:
            number += 1
            yield number, (part if len(part) <= max_line else None), len(part)
        last = parts[-1]
        rest, rest_len = (last, len(last)) if len(last) <= max_line else (b"", len(last))
    if rest_len:
        number += 1
        yield number, (rest if rest_len <= max_line else None), rest_len


def _too_long(length: int) -> str:
    return f"line too long ({length} bytes; the limit is {MAX_LINE_BYTES})"


def _parse_line(number: int, raw: str, name: str, games: list[TrmphGame], issues: list[TrmphIssue]) -> None:
    line = raw.strip()
    if not line or is_comment(line):
        return
    try:
        game = parse_record(line)
    except TrmphError as exc:
        issues.append(TrmphIssue(name, number, exc.reason))
        return
    games.append(TrmphGame(game.board_size, game.moves, game.winner, game.swap, number))


def parse_trmph_text(
    text: str, path: str | os.PathLike[str] = "<string>"
) -> tuple[list[TrmphGame], list[TrmphIssue]]:
    """Parse the lines of a game file already in memory; see `read_trmph_file`."""
    name = os.fspath(path)
    games: list[TrmphGame] = []
    issues: list[TrmphIssue] = []
    # Split at \n, \r\n and \r only, not str.splitlines(): that also breaks at form
    # feeds and other separators, and line numbers would then disagree with editors.
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors put first
    for number, raw in enumerate(_EOL_TEXT_RE.split(text), start=1):
        if len(raw) > MAX_LINE_BYTES // 4 and (size := len(raw.encode("utf-8"))) > MAX_LINE_BYTES:
            issues.append(TrmphIssue(name, number, _too_long(size)))
            continue
        _parse_line(number, raw, name, games, issues)
    return games, issues


def read_trmph_file(path: str | os.PathLike[str]) -> tuple[list[TrmphGame], list[TrmphIssue]]:
    """Read a game file: one record a line, blank lines and `#` comments skipped.

    Returns the good games (with their 1-based line numbers) and one TrmphIssue per bad
    record or overlong line, in file order. Raises OSError when the file cannot be
    opened and TrmphFileError when it is not UTF-8 text (NUL bytes, invalid UTF-8).
    Reads in blocks: memory stays bounded whatever the file (module docstring).
    """
    name = os.fspath(path)
    games: list[TrmphGame] = []
    issues: list[TrmphIssue] = []
    with open(path, "rb") as stream:
        for number, line, length in iter_lines(stream):
            if line is None:
                issues.append(TrmphIssue(name, number, _too_long(length)))
            else:
                if b"\0" in line:
                    raise TrmphFileError(path, f"not a text file (line {number} contains NUL bytes)")
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise TrmphFileError(path, f"not UTF-8 text (line {number}, byte {exc.start})") from None
                if number == 1:
                    text = text.removeprefix("\ufeff")  # a byte-order mark some editors put first
                _parse_line(number, text, name, games, issues)
    return games, issues


def write_trmph_file(path: str | os.PathLike[str], games: Iterable[GameLike], url: bool = True) -> Path:
    """Write one `<record> <1|2>` line per game, atomically; returns the path.

    The URL form is the default because that is what people paste and share; `url=False`
    writes the bare form. Reading the file back gives the same games (lines 1, 2, ...).
    """
    text = "".join(format_record(g.board_size, g.moves, g.winner, url=url) + "\n" for g in games)
    return write_text_atomic(path, text)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a UTF-8 text file by write-then-rename (game files: TRMPH here, SGF in games.sgf).

    The same as zeroloop.data.atomic, repeated here because games must not import data:
    a reader never sees half a file, and the ".tmp" name makes scanners skip it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final
