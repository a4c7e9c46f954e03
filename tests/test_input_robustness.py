"""TRMPH files with any line ending or absurd lines, and fuzzed TRMPH and config input
(issue 14, point 3): the outcome is games, a reported issue or one of the project's
own errors, never another exception."""

from __future__ import annotations

import io
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data_helpers import small_config
from zeroloop.config import ConfigError, load_config
from zeroloop.data.preprocess import preprocess_dry_run, run_preprocess
from zeroloop.data.synthetic import random_records
from zeroloop.games.trmph import TrmphError, TrmphFileError, parse_record
from zeroloop.games.trmph_file import (
    MAX_LINE_BYTES,
    iter_lines,
    parse_trmph_text,
    read_trmph_file,
    write_trmph_file,
)

N = 5


def _games_file(tmp_path: Path, count: int = 6) -> tuple[Path, bytes]:
    path = write_trmph_file(tmp_path / "g.trmph", random_records(N, count, seed=11))
    return path, path.read_bytes()


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_every_line_ending_reads_the_same(tmp_path: Path, eol: bytes) -> None:
    path, data = _games_file(tmp_path)
    expected, _ = read_trmph_file(path)
    other = tmp_path / "other.trmph"
    # A comment and a blank line too, so line numbers are checked past them.
    other.write_bytes(b"# comment" + eol + eol + data.replace(b"\n", eol))
    games, issues = read_trmph_file(other)
    assert not issues
    assert [(g.moves, g.winner) for g in games] == [(g.moves, g.winner) for g in expected]
    assert [g.line for g in games] == [g.line + 2 for g in expected]
    text_games, _ = parse_trmph_text((b"# comment" + eol + eol + data.replace(b"\n", eol)).decode())
    assert [g.line for g in text_games] == [g.line for g in games]
    # The same file through the data stage: every game, no bad records.
    s = run_preprocess(small_config(), [other], tmp_path / "pos")
    assert s.games_in == len(expected) and s.bad_games == 0
    assert preprocess_dry_run(small_config(), [other])["games_estimate"] == len(expected)


def test_line_ends_split_across_read_blocks() -> None:
    data = b"ab\r\ncd\re\n\r\nfg\r"
    for block in (1, 2, 3, 5, 64):
        lines = [(n, line) for n, line, _ in iter_lines(io.BytesIO(data), block=block)]
        assert lines == [(1, b"ab"), (2, b"cd"), (3, b"e"), (4, b""), (5, b"fg")], block


def test_an_overlong_line_is_reported_in_bounded_memory(tmp_path: Path) -> None:
    path, data = _games_file(tmp_path, count=4)
    first, rest = data.split(b"\n", 1)
    long_line = b"#5," + b"a1" * 10_000_000  # 20 MB, no line end for a long way
    path.write_bytes(first + b"\n" + long_line + b"\n" + rest)
    tracemalloc.start()
    games, issues = read_trmph_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(games) == 4 and [g.line for g in games] == [1, 3, 4, 5]
    assert [str(i) for i in issues] == [
        f"{path}:2: line too long ({len(long_line)} bytes; the limit is {MAX_LINE_BYTES})"
    ]
    # The old reader held the whole file and the line's pieces: over 1 GB for this one.
    assert peak < 16 * 2**20
    s = run_preprocess(small_config(), [path], tmp_path / "pos")
    assert s.games_in == 5 and s.bad_games == 1 and "line too long" in s.bad_records[0]


# ---- fuzzing -------------------------------------------------------------------------

# Text made of the pieces TRMPH is made of, so fuzzing reaches the parser, not only
# the "not a record" path.
_TRMPH_PIECES = [*"#0123456789abcsz,ABr \t\r\n\ufeff/:.", "http://www.trmph.com/hex/board#", "#5,", "#11,"]
_TRMPH_TEXT = st.lists(st.sampled_from(_TRMPH_PIECES), max_size=120).map("".join)
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(data=st.one_of(st.binary(max_size=3000), _TRMPH_TEXT.map(str.encode)))
def test_fuzzed_trmph_files_give_games_issues_or_a_file_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.trmph"
        path.write_bytes(data)
        try:
            games, issues = read_trmph_file(path)
        except TrmphFileError as exc:
            assert str(exc).startswith(str(path))
            return
    for g in games:
        assert 2 <= g.board_size <= 19 and g.winner in (0, 1)
    for issue in issues:
        assert issue.line >= 1 and issue.reason


@_FUZZ
@given(text=_TRMPH_TEXT)
def test_fuzzed_records_parse_or_raise_trmph_error(text: str) -> None:
    try:
        game = parse_record(text)
    except TrmphError as exc:
        assert exc.reason
        return
    assert game.winner in (0, 1)


_YAML_PIECES = [*"abcdefgmnoprstuwy_.:-[]{},'\"!&*#|>0123456789 \t\n\r%@`?", "game", "!!python/", "&a", "*a"]
_YAML_TEXT = st.lists(st.sampled_from(_YAML_PIECES), max_size=150).map("".join)


@_FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        _YAML_TEXT.map(str.encode),
        st.builds(
            lambda k, v: f"{k}:\n  {v}\n".encode(),
            st.sampled_from(["game", "train", "data", "mcts", "selfplay", "model", "eval", "bogus"]),
            _YAML_TEXT,
        ),
    )
)
def test_fuzzed_config_files_load_or_raise_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path))


def test_config_that_is_not_utf8_or_nested_too_deep_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"game:\n  board_size: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    deep = tmp_path / "deep.yaml"
    deep.write_text("game: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=str(deep)):
        load_config(deep)
