"""A real two-node Ray cluster on this machine: work spreads, a dead node costs nothing.

`ray start --head` plus `ray start --address` (each node 1 CPU, token authentication
on, a private RAY_TMPDIR so no other Ray on the machine sees it). zeroloop runs as a
user runs it, in its own process: the self-play stage, one generation of rl-loop, the
bad-input errors, and a self-play stage whose worker node is killed half-way.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flow_helpers import prefect_env, write_tiny_config
from zeroloop.data.chunks import read_chunk_provenance, read_game_chunk
from zeroloop.workers.local_cluster import LocalCluster

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]

SELFPLAY = ["--set", "selfplay.num_workers=2", "--set", "selfplay.batch_size=4"]


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster.start(head_cpus=1)
    try:
        c.add_node(num_cpus=1, resources={"side": 1.0})
        yield c
    finally:
        c.shutdown()


@pytest.fixture(scope="module")
def config(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_tiny_config(tmp_path_factory.mktemp("cfg"))
    # One compilation cache for every actor of the module: later actors start in seconds.
    cache = cluster.root / "xla"
    path.write_text(
        path.read_text().replace("batch_size: 8}", f"batch_size: 8, compilation_cache_dir: {cache}}}")
    )
    return path


def _zeroloop(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zeroloop", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _env(cluster: LocalCluster, tmp_path: Path, by_file: bool = False) -> dict[str, str]:
    env = prefect_env(tmp_path / "prefect")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"  # the temporary API, on a loaded machine
    env.update({k: v for k, v in cluster.env(join_by_address_file=by_file).items() if k.startswith("RAY_")})
    if not by_file:
        env.pop("RAY_TMPDIR", None)
    return env


def _node_ids(cluster: LocalCluster, tmp_path: Path) -> set[str]:
    code = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, cluster.address],
        env=_env(cluster, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def _chunk_nodes(directory: Path) -> list[str]:
    return [read_chunk_provenance(p)["ray_node_id"] for p in sorted(directory.glob("chunk-*.arrow"))]


def test_selfplay_spreads_over_both_nodes(cluster: LocalCluster, config: Path, tmp_path: Path) -> None:
    nodes = _node_ids(cluster, tmp_path)
    assert len(nodes) == 2
    out = tmp_path / "games"
    args = ["selfplay", "--out", str(out), "--config", str(config), "--num-games", "16", *SELFPLAY]
    done = _zeroloop(
        [*args, "--set", f"orchestration.ray_address={cluster.address}"], _env(cluster, tmp_path)
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    played = _chunk_nodes(out)
    assert set(played) == nodes  # actors ran on both nodes, and each chunk says where
    assert sum(len(read_game_chunk(p)) for p in out.glob("chunk-*.arrow")) == 16
    assert "games_per_node" in done.stdout


def test_one_generation_joins_the_cluster_on_this_machine(
    cluster: LocalCluster, config: Path, tmp_path: Path
) -> None:
    """No ray_address: the cluster `ray start` left on the machine is joined, not refused."""
    nodes = _node_ids(cluster, tmp_path)
    run_dir = tmp_path / "run"
    args = ["run", "--config", str(config), "--run-dir", str(run_dir), "--generations", "1", *SELFPLAY]
    done = _zeroloop(args, _env(cluster, tmp_path, by_file=True))
    log = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, log
    assert "joined the Ray cluster running on this machine" in done.stdout + done.stderr
    assert set(_chunk_nodes(run_dir / "selfplay" / "gen-0001")) == nodes
    assert (run_dir / "models" / "gen-0001.zlm").exists()


def test_bad_cluster_input_is_one_line(cluster: LocalCluster, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "games"
    base = ["selfplay", "--out", str(out), "--config", str(config), "--num-games", "4"]
    at = ["--set", f"orchestration.ray_address={cluster.address}"]
    # More GPUs than the cluster has (it has none).
    gpus = _zeroloop([*base, *at, "--set", "selfplay.gpus_per_worker=1"], _env(cluster, tmp_path))
    lines = gpus.stderr.strip().splitlines()
    assert gpus.returncode == 2 and lines[-1].startswith("error: selfplay.gpus_per_worker=1"), gpus.stderr
    assert not out.exists()
    # A driver without the cluster's token: Ray refuses it; zeroloop says what to set.
    env = _env(cluster, tmp_path)
    env.pop("RAY_AUTH_MODE")
    env.pop("RAY_AUTH_TOKEN_PATH")
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    refused = _zeroloop([*base, *at], env)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and last.startswith(f"error: orchestration.ray_address={cluster.address}")
    assert "RAY_AUTH_MODE=token" in last and "Traceback" not in refused.stderr
    assert not out.exists()


def test_worker_node_killed_mid_stage(cluster: LocalCluster, config: Path, tmp_path: Path) -> None:
    """Kill the non-head node after it wrote a chunk: the stage finishes on the head."""
    first = _node_ids(cluster, tmp_path)
    side = cluster.add_node(num_cpus=1, resources={"victim": 1.0})
    nodes = _node_ids(cluster, tmp_path)
    (victim,) = nodes - first
    out = tmp_path / "games"
    args = ["selfplay", "--out", str(out), "--config", str(config), "--num-games", "48", *SELFPLAY]
    args += ["--set", "selfplay.num_workers=3", "--set", f"orchestration.ray_address={cluster.address}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeroloop", *args],
        env=_env(cluster, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            if out.exists() and victim in _chunk_nodes(out):
                break  # the victim's actor is busy with its next batch now
            time.sleep(0.5)
        assert victim in _chunk_nodes(out), "the third node never wrote a chunk"
        cluster.kill_node(side)
        by_victim = _chunk_nodes(out).count(victim)
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output[-4000:]
    chunks = sorted(out.glob("chunk-*.arrow"))
    total = sum(len(read_game_chunk(p)) for p in chunks)  # every visible chunk is whole
    assert total == 48
    assert not list(out.glob(".*.tmp"))
    for p in chunks:
        assert len(p.with_suffix(".trmph").read_text().splitlines()) == len(read_game_chunk(p))
    # After the kill only the surviving nodes wrote; a batch the victim had in flight was
    # re-planned there (worker_restarts counts it when there was one).
    assert _chunk_nodes(out).count(victim) <= by_victim + 1  # +1: a rename racing the kill
    assert re.search(r"worker_restarts\W+(\d+)", output), output[-3000:]
    assert set(_chunk_nodes(out)) <= nodes
