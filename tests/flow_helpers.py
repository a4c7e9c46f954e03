"""Shared helpers for the flow tests: a tiny config and a clean Prefect environment."""

from __future__ import annotations

import os
from pathlib import Path

TINY_CONFIG = """\
name: tiny
game: {board_size: 4, swap: false}
model: {blocks: 1, channels: 8, value_hidden: 8}
mcts: {num_simulations: 4}
selfplay: {num_games: 16, num_workers: 1, batch_size: 8}
data: {test_fraction: 0.2, max_workers: 1}
shuffle: {num_buckets: 2}
train: {batch_size: 32, steps: 20}
eval: {num_games: 4, num_simulations: 4}
orchestration: {generations: 2, num_cpus: 2}
"""


def write_tiny_config(directory: Path, train: str | None = None) -> Path:
    """Write the tiny config; `train` replaces the train section's inline mapping body."""
    text = TINY_CONFIG
    if train:
        text = text.replace("train: {batch_size: 32, steps: 20}", f"train: {{batch_size: 32, {train}}}")
    path = directory / "tiny.yaml"
    path.write_text(text)
    return path


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for a subprocess with its own Prefect home (and server, if given)."""
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
        # The temporary local API starts in seconds on a quiet machine; give a loaded one
        # (shared CI cores) time rather than failing the run (Prefect's default is 20 s).
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600",
    )
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


_STATES_SCRIPT = """
import asyncio, json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import FlowRunSort

async def main():
    async with get_client() as client:
        out = []
        for run in await client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC):
            flt = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            tasks = await client.read_task_runs(flow_run_filter=flt)
            out.append({t.name: t.state_name for t in tasks})
        print(json.dumps(out))

asyncio.run(main())
"""


def task_states(home: Path) -> list[dict[str, str]]:
    """Per flow run (oldest first), {task run name: state name}, read through Prefect's API.

    Task runs are named `<stage>-gen-NNNN` (and `init-model`) by the flow; a state name
    is e.g. 'Completed' (it ran) or 'Cached' (its persisted result was reused).
    """
    import json
    import subprocess
    import sys

    env = prefect_env(home)
    out = subprocess.run(
        [sys.executable, "-c", _STATES_SCRIPT], env=env, capture_output=True, text=True, timeout=400
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def prefect_client(api_url: str):
    """A Prefect client for the server at `api_url`.

    Not `get_client()`: Prefect reads its settings once per process, so after one test
    talked to its server, `get_client()` would go on talking to that one.
    """
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api=api_url)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float) -> None:
    """Block until `url` answers 200, or raise TimeoutError after `seconds`."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def prefect_bin() -> str:
    """The `prefect` command of the interpreter running the tests."""
    import sys

    return str(Path(sys.executable).with_name("prefect"))
