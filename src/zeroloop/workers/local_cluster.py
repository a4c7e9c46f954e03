"""A real multi-node Ray cluster on this one machine, for tests and benchmarks.

Each node is a `ray start` process with its own CPUs and resources; they share the
machine's IP (Ray allows several nodes per IP, each with its own raylet and ports).
The cluster is private to its caller:

* `RAY_TMPDIR=<root>` keeps its session files and its address file
  (`<root>/ray/ray_current_cluster`) out of `/tmp/ray`, so other Ray users on the
  machine never join it by accident; `<root>` is short because Ray's unix sockets
  live under it (paths over ~107 bytes fail);
* token authentication is on (`RAY_AUTH_MODE=token`, a fresh token in `<root>/token`
  passed as `RAY_AUTH_TOKEN_PATH`), the way a real cluster shares its token;
* every node runs in its own process group and is torn down by that group id, never
  with `ray stop` (which would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One `ray start` process group: `pgid` tears it down."""

    name: str
    pgid: int
    log: Path


@dataclass
class LocalCluster:
    """Start with `LocalCluster.start(head_cpus=1)`, add nodes, `shutdown()` at the end."""

    root: Path
    address: str = ""
    nodes: list[Node] = field(default_factory=list)
    object_store_bytes: int = 100 * 2**20

    @classmethod
    def start(
        cls,
        head_cpus: int = 1,
        head_resources: dict[str, float] | None = None,
        cores: Sequence[int] | None = None,
    ) -> LocalCluster:
        """Start the head node; `cores` pins it (and every worker it starts) to those CPU cores."""
        root = Path(tempfile.mkdtemp(prefix="zlc", dir="/tmp"))  # short: Ray's socket paths live here
        token = root / "token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        cluster = cls(root=root)
        for attempt in range(1, 4):
            port = free_port()
            try:
                head = ["--head", f"--port={port}", "--include-dashboard=false"]
                cluster._ray_start("head", head, head_cpus, head_resources, tries=1, cores=cores)
                break
            except Exception:
                if attempt == 3:
                    cluster.shutdown()
                    raise
        cluster.address = f"127.0.0.1:{port}"
        return cluster

    def env(self, join_by_address_file: bool = False) -> dict[str, str]:
        """Environment for a driver of this cluster (token auth on, this cluster's temp dir).

        join_by_address_file: also set RAY_TMPDIR, so that a driver with no address finds
        this cluster the way it would find one `ray start` left on the machine.
        """
        env = dict(os.environ)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.root / "token"))
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env.pop("RAY_ADDRESS", None)
        if join_by_address_file:
            env["RAY_TMPDIR"] = str(self.root)
        else:
            env.pop("RAY_TMPDIR", None)
        return env

    def add_node(
        self, num_cpus: int = 1, resources: dict[str, float] | None = None, cores: Sequence[int] | None = None
    ) -> Node:
        """Join a node; `cores` pins it (raylet, workers, actors) to those CPU cores."""
        args = [f"--address={self.address}"]
        return self._ray_start(f"node{len(self.nodes)}", args, num_cpus, resources, cores=cores)

    def _ray_start(
        self,
        name: str,
        args: list[str],
        num_cpus: int,
        resources: dict[str, float] | None,
        tries: int = 3,
        cores: Sequence[int] | None = None,
    ) -> Node:
        """`ray start`, tried again (fresh ports) when the node dies starting up.

        On a heavily loaded machine a raylet can give up waiting for its agents (Ray waits a
        fixed time for them); the failed attempt's processes are killed before the next.
        """
        for attempt in range(1, tries + 1):
            try:
                return self._ray_start_once(name, args, num_cpus, resources, cores)
            except RuntimeError:
                failed = self.nodes.pop()
                self.kill_node(failed)
                if attempt == tries:
                    raise
        raise AssertionError("unreachable")

    def _ray_start_once(
        self,
        name: str,
        args: list[str],
        num_cpus: int,
        resources: dict[str, float] | None,
        cores: Sequence[int] | None,
    ) -> Node:
        cmd = [str(Path(sys.executable).with_name("ray")), "start", *args, f"--num-cpus={num_cpus}"]
        cmd += ["--num-gpus=0", f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats"]
        cmd += ["--node-ip-address=127.0.0.1"]
        # Ray's fixed default ports (8265, 52365, ...) may belong to another Ray here.
        cmd += [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}"]
        cmd += [f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]
        if "--head" in args:
            cmd.append(f"--dashboard-port={free_port()}")
        if resources:
            cmd.append(f"--resources={json.dumps(resources)}")
        if os.geteuid() == 0 and shutil.which("nice") and shutil.which("renice"):
            # Ray's raylet gives up if its Python agents take over 15 s to start (a fixed
            # limit, ray-project/ray#65983); on a loaded machine they get a head start,
            # dropped again below once the node is up.
            cmd = ["nice", "-n", "-10", *cmd]
        log = self.root / f"{name}.log"
        env = self.env(join_by_address_file=True)
        # A loaded machine starts a node's agents slowly; Ray's defaults (15-30 s) then abort.
        env.setdefault("RAY_raylet_start_wait_time_s", "300")
        env.setdefault("RAY_agent_register_timeout_ms", "300000")
        with log.open("w") as out:
            # CPU affinity is inherited by the raylet `ray start` leaves running and by every
            # worker it forks: a node pinned to one core is a 1-CPU node in fact, not only
            # in Ray's accounting (JAX would otherwise use every core of the machine).
            pin = (lambda: os.sched_setaffinity(0, set(cores))) if cores else None
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=pin
            )
        node = Node(name, proc.pid, log)
        self.nodes.append(node)  # before waiting: a failed start is still torn down
        try:
            rc = proc.wait(timeout=150)
        except subprocess.TimeoutExpired:
            rc = -1
        if rc != 0:
            raise RuntimeError(f"ray start ({name}) failed: {log.read_text()[-2000:]}")
        if cmd[0] == "nice":
            subprocess.run(["renice", "-n", "0", "-g", str(node.pgid)], capture_output=True, check=False)
        return node

    def kill_node(self, node: Node) -> None:
        """SIGKILL every process of the node (raylet, its workers and actors) at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pgid, signal.SIGKILL)

    def forget_address_file(self) -> None:
        """Remove the cluster's address file (drivers then need the address)."""
        (self.root / "ray" / "ray_current_cluster").unlink(missing_ok=True)

    def shutdown(self) -> None:
        """SIGTERM each node's process group, then SIGKILL what is left; remove the temp dir."""
        for node in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pgid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_group_alive(n.pgid) for n in self.nodes):
            time.sleep(0.5)
        for node in self.nodes:
            self.kill_node(node)
        self.forget_address_file()
        shutil.rmtree(self.root, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
