"""Bad cluster settings: one line naming the key, exit status 2, nothing written.

Covers a malformed or unreachable `orchestration.ray_address` (and `RAY_ADDRESS`) and a
PostgreSQL URL that refuses the connection. More GPUs than the cluster has is tested on
a real cluster in tests/test_ray_cluster.py (slow).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.config import load_config
from zeroloop.workers.ray_session import RayClusterError, check_ray_address, resolve_ray_address

TINY = ["model.blocks=1", "model.channels=8", "model.value_hidden=8", "mcts.num_simulations=4"]


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(autouse=True)
def _no_ambient_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RAY_ADDRESS", "PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)


def test_address_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_ray_address(load_config(None, [])) == (None, "orchestration.ray_address")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert resolve_ray_address(load_config(None, [])) == ("10.0.0.1:6379", "RAY_ADDRESS")
    config = load_config(None, ["orchestration.ray_address=local"])
    assert resolve_ray_address(config) == ("local", "orchestration.ray_address")


@pytest.mark.parametrize("address", ["nonsense", "host:notaport", "10.0.0.1:99999", ":6379"])
def test_malformed_address_is_refused(address: str) -> None:
    with pytest.raises(RayClusterError, match=r"orchestration\.ray_address=.*not a Ray address"):
        check_ray_address(load_config(None, [f"orchestration.ray_address={address}"]))


def test_unreachable_address_selfplay_writes_nothing(tmp_path: Path) -> None:
    port = _closed_port()
    out = tmp_path / "games"
    result = CliRunner().invoke(
        app, ["selfplay", "--out", str(out), "--set", f"orchestration.ray_address=127.0.0.1:{port}", *_sets()]
    )
    line = _error_line(result)
    assert f"orchestration.ray_address=127.0.0.1:{port}" in line and "nothing answers" in line
    assert not out.exists()


def test_unreachable_ray_address_env_run_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--config", _config(tmp_path), "--run-dir", str(run_dir)])
    line = _error_line(result)
    assert f"RAY_ADDRESS=127.0.0.1:{port}" in line
    assert not run_dir.exists()


def test_postgres_refusing_connection_run_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    url = f"postgresql+asyncpg://zeroloop:secret@127.0.0.1:{port}/prefect"
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", url)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--config", _config(tmp_path), "--run-dir", str(run_dir)])
    line = _error_line(result)
    assert "PREFECT_API_DATABASE_CONNECTION_URL=" in line and f"127.0.0.1:{port}" in line
    assert "refused" in line and "secret" not in line  # the password is never printed
    assert not run_dir.exists()


def _sets() -> list[str]:
    out: list[str] = []
    for s in TINY:
        out += ["--set", s]
    return out


def _config(tmp_path: Path) -> str:
    from tests.flow_helpers import write_tiny_config

    return str(write_tiny_config(tmp_path))
