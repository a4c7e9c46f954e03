"""Prefect server on a real PostgreSQL, a process work pool and `prefect worker start`.

PostgreSQL is Debian's package (`apt-get install postgresql`; `.ci/run` installs it):
`initdb` and `pg_ctl` in a temporary directory on 127.0.0.1 and a free port. Then
`zeroloop deploy --pool`, `prefect deployment run` to Completed; a second run whose
worker is SIGKILLed after self-play finished, a new worker, `prefect flow-run retry`,
and the finished stages come back Cached.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.flow_helpers import (
    free_port,
    prefect_bin,
    prefect_client,
    prefect_env,
    wait_http,
    write_tiny_config,
)

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    return Path(found[-1]).parent


class Postgres:
    """A throw-away PostgreSQL cluster; as root it runs as the `postgres` user (initdb refuses root)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="zlpg", dir="/tmp"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"

    def run(self, *cmd: str) -> None:
        out = subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{cmd[0]}: {out.stdout[-1500:]}{out.stderr[-1500:]}"

    def start(self) -> str:
        self.run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "zeroloop", "--auth=trust", "-E", "UTF8"
        )
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.root}"
        log = str(self.root / "log")
        self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", log, "-w", "-t", "180", "start"
        )
        self.run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "zeroloop", "prefect"
        )
        return f"postgresql+asyncpg://zeroloop@127.0.0.1:{self.port}/prefect"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "stop"], capture_output=True, timeout=120)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_work_pool_on_postgres_runs_and_resumes(tmp_path: Path) -> None:
    pg = Postgres()
    procs: list[subprocess.Popen] = []
    try:
        db_url = pg.start()
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = prefect_env(tmp_path / "prefect-home", api_url=api)
        server_env = dict(env, PREFECT_API_DATABASE_CONNECTION_URL=db_url)
        server_env.pop("PREFECT_API_URL")
        server = _popen([prefect_bin(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                        server_env, tmp_path / "server.log")  # fmt: skip
        procs.append(server)
        wait_http(f"{api}/health", 300)
        prefect = lambda *a: subprocess.run([prefect_bin(), *a], env=env, capture_output=True, text=True,
                                            timeout=300)  # fmt: skip
        made = prefect("work-pool", "create", "zl-pool", "--type", "process")
        assert made.returncode == 0, made.stdout + made.stderr
        config = write_tiny_config(tmp_path)
        deploy = [sys.executable, "-m", "zeroloop", "deploy", "--pool", "zl-pool", "--config", str(config)]
        deploy += ["--run-dir", str(tmp_path / "run"), "--sl-config", str(config)]
        deploy += ["--sl-run-dir", str(tmp_path / "sl")]
        deployed = subprocess.run(deploy, env=env, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        worker_cmd = [prefect_bin(), "worker", "start", "--pool", "zl-pool", "--type", "process"]
        worker = _popen(worker_cmd, env, tmp_path / "worker-1.log")
        procs.append(worker)

        # 1. A flow run to Completed, through the pool.
        first = _trigger(prefect, ["--param", "generations=1"])
        state = asyncio.run(_wait_state(first, env, 900))
        assert state == "COMPLETED", (tmp_path / "worker-1.log").read_text()[-4000:]
        assert (tmp_path / "run" / "models" / "gen-0001.zlm").exists()

        # 2. A second run on a new run directory; kill the worker once self-play is done.
        second = _trigger(prefect, ["--param", "generations=1", "--param", f"run_dir={tmp_path / 'run2'}"])
        asyncio.run(_wait_task(second, env, "selfplay", 900))
        # The machine "dies": the worker, and the flow run it started (Prefect's process
        # worker runs it in a session of its own, so it must be found by its run id).
        _stop(worker, signal.SIGKILL)
        killed = _kill_flow_run(second)
        assert killed, "found no process of the flow run to kill"
        state = asyncio.run(_read_state(second, env))
        assert state not in ("COMPLETED", "CACHED"), "the run finished before the worker was killed"
        asyncio.run(_mark_crashed(second, env))  # what a heartbeat timeout would do, now
        worker = _popen(worker_cmd, env, tmp_path / "worker-2.log")
        procs.append(worker)
        retried = prefect("flow-run", "retry", second)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        state = asyncio.run(_wait_state(second, env, 900))
        assert state == "COMPLETED", (tmp_path / "worker-2.log").read_text()[-4000:]
        states = asyncio.run(_task_states(second, env))
        assert "Cached" in states.get("selfplay", []), states  # finished before the kill: not redone
        assert (tmp_path / "run2" / "models" / "gen-0001.zlm").exists()
    finally:
        for p in reversed(procs):
            _stop(p)
        pg.stop()


def _kill_flow_run(flow_run_id: str) -> list[int]:
    """SIGKILL every process whose environment names this flow run, with its process group."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode() in environ.split(b"\0"):
            pid = int(entry.name)
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in killed):
        time.sleep(0.2)  # zombies of the killed worker are reaped by init; wait for them
    return killed


def _trigger(prefect, params: list[str]) -> str:
    out = prefect("deployment", "run", "rl-loop/pool", *params)
    assert out.returncode == 0, out.stdout + out.stderr
    return re.search(r"UUID:\s*([0-9a-f-]{36})", out.stdout).group(1)


def _client(env: dict[str, str]):
    return prefect_client(env["PREFECT_API_URL"])


async def _read_state(flow_run_id: str, env: dict[str, str]) -> str:
    async with _client(env) as client:
        run = await client.read_flow_run(flow_run_id)
        return run.state.type.value if run.state else "NONE"


async def _wait_state(flow_run_id: str, env: dict[str, str], seconds: float) -> str:
    async with _client(env) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            run = await client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run.state.type.value
            await asyncio.sleep(2)
        return "TIMEOUT"


async def _task_states(flow_run_id: str, env: dict[str, str]) -> dict[str, list[str]]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with _client(env) as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    states: dict[str, list[str]] = {}
    for r in runs:
        # Task runs are named "<stage>-gen-GGGG" (init-model has no generation).
        states.setdefault(r.name.split("-gen-")[0], []).append(r.state.name if r.state else "")
    return states


async def _wait_task(flow_run_id: str, env: dict[str, str], name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "Completed" in (await _task_states(flow_run_id, env)).get(name, []):
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"task {name} of {flow_run_id} did not complete")


async def _mark_crashed(flow_run_id: str, env: dict[str, str]) -> None:
    from prefect.states import Crashed

    async with _client(env) as client:
        await client.set_flow_run_state(flow_run_id, Crashed(message="worker killed"), force=True)
