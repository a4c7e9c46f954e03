"""With a real Prefect server on 127.0.0.1: serve, trigger with the CLI, read artifacts back."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
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

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_served_deployment_runs_and_reports(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path / "prefect-home", api_url=api)
    procs = []
    try:
        server = subprocess.Popen(
            [prefect_bin(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(server)
        wait_http(f"{api}/health", 120)
        config = write_tiny_config(tmp_path)
        run_dir = tmp_path / "run"
        serve_log = (tmp_path / "serve.log").open("w")
        serving = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zeroloop",
                "serve",
                "--config",
                str(config),
                "--run-dir",
                str(run_dir),
                "--sl-config",
                str(config),
                "--sl-run-dir",
                str(tmp_path / "sl"),
            ],
            env=env,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(serving)
        # The deployment exists once `serve` has registered it.
        deadline = time.monotonic() + 180
        while True:
            out = subprocess.run([prefect_bin(), "deployment", "ls"], env=env, capture_output=True, text=True)
            if "rl-loop/default" in out.stdout and "sl-train/default" in out.stdout:
                break
            assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, out.stdout + out.stderr
            time.sleep(2)

        trigger = subprocess.run(
            [prefect_bin(), "deployment", "run", "rl-loop/default", "--param", "generations=1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr
        flow_run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", trigger.stdout).group(1)
        state, artifacts = asyncio.run(_wait_and_read(flow_run_id, env, 700))
        assert state == "COMPLETED", (tmp_path / "serve.log").read_text()[-4000:]
        keys = {a["key"] for a in artifacts if a["key"]}
        # Keys start with the run's name (the run directory's name, "run").
        for stage in ("selfplay", "preprocess", "shuffle", "train", "evaluate"):
            assert f"run-{stage}-gen-1" in keys, keys
            assert f"run-{stage}-progress" in keys, keys
        assert "run-generation-1" in keys and "run-dashboard" in keys
        tables = [a for a in artifacts if a["type"] == "table" and a["key"] == "run-selfplay-gen-1"]
        rows = json.loads(tables[0]["data"]) if isinstance(tables[0]["data"], str) else tables[0]["data"]
        assert any(r["metric"] == "games" and r["value"] >= 16 for r in rows)
        assert (run_dir / "models" / "gen-0001.zlm").exists()
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


async def _wait_and_read(flow_run_id: str, env: dict, seconds: float) -> tuple[str, list[dict]]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with prefect_client(env["PREFECT_API_URL"]) as client:
        deadline = time.monotonic() + seconds
        while True:
            run = await client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                break
            if time.monotonic() > deadline:
                return f"TIMEOUT ({run.state.type if run.state else None})", []
            await asyncio.sleep(2)
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        return run.state.type.value, [{"key": a.key, "type": a.type, "data": a.data} for a in arts]
