"""Chaos benchmark: SIGKILL `zeroloop run` at seeded random moments, then check nothing was lost.

    python benchmarks/chaos.py --kills 20 --generations 4 --seed 0 --workdir /tmp/chaos \
        --out benchmark/chaos.json [--actor-kill] [--deployment-kill]

Each round starts `zeroloop run` in its own session (start_new_session=True), waits
until the stage it aims at is running (seeded: the stage with the fewest kills so far
that is still ahead, then a seeded random delay of up to --jitter seconds), and
SIGKILLs the whole process group. Which stage was running is read from the run's
manifest at the moment of the kill. When the kills are spent the run is left to
finish, optionally after SIGKILLing one self-play actor (a Ray worker of this run)
mid-stage, and checked:

- every generation complete (all stages in the manifest, a model file);
- each generation has exactly its target number of games on disk;
- no self-play batch was replayed with the same seed (each seed in one chunk only);
- no temporary file left (*.tmp, Orbax temporaries, *.removing, _intermediate/);
- no Ray or other process of THIS run left running: only processes of the killed
  session, or whose environment carries this benchmark's token, are looked at (and,
  between rounds, killed); other people's Ray on the machine is never touched;
- every model file loads and the Elo ladder is consistent (one evaluation per
  generation, every generation a player, ratings fit).

--deployment-kill also runs a Prefect server and `zeroloop serve`, triggers the
deployment, SIGKILLs the serving process (the Prefect worker) mid-run, restarts it and
triggers the deployment again: the second flow run must complete and find the first
one's finished stages cached.

Prints survived/attempted. Timings depend on the machine's load; the figures in
docs/orchestration.md were taken on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zeroloop.rundir import RunDir, gen_name  # noqa: E402

PIPELINE = ("selfplay", "preprocess", "shuffle", "train", "evaluate", "promote")
TOKEN_VAR = "ZEROLOOP_CHAOS_TOKEN"
SHORT_STAGES = ("preprocess", "shuffle", "promote")

# 4x4, tiny net; enough work per stage (several self-play batches, checkpoints every 10
# steps) that a kill can land inside each one.
CONFIG = """\
name: chaos
game: {board_size: 4, swap: false}
model: {blocks: 1, channels: 8, value_hidden: 8}
mcts: {num_simulations: 4}
selfplay: {num_games: 16, num_workers: 1, batch_size: 4}
data: {test_fraction: 0.2, max_workers: 1}
shuffle: {num_buckets: 2}
train: {batch_size: 32, steps: 40, checkpoint: {every: 10, async_save: false}}
eval: {num_games: 6, num_simulations: 4}
orchestration: {generations: 2, num_cpus: 2}
"""


# ----------------------------------------------------------------------------- processes


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def session_of(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[3]) if len(fields) > 3 else None  # state ppid pgrp session


def run_processes(sessions: set[int], token: str) -> list[int]:
    """PIDs of processes of this benchmark's runs: in one of `sessions`, or carrying `token`.

    Ray's raylet, GCS and workers inherit the driver's session and environment; anything
    else on the machine (other people's Ray) has neither and is never returned.
    """
    me = os.getpid()
    marker = f"{TOKEN_VAR}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if session_of(pid) in sessions or marker in _read(f"/proc/{pid}/environ").split(b"\0"):
            found.append(pid)
    return found


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()


def reap(sessions: set[int], token: str, seconds: float = 20.0) -> list[str]:
    """Wait for this run's processes to go; SIGKILL (by PID) those still there. Returns them."""
    deadline = time.monotonic() + seconds
    left = run_processes(sessions, token)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = run_processes(sessions, token)
    names = [f"{pid} {cmdline(pid)[:80]}" for pid in left]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return names


# ----------------------------------------------------------------------------- the run


def start_prefect_server(work: Path, patience: float) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server on 127.0.0.1:<free port> for every round (own session, no token:
    reaping a killed run never touches it). Saves the temporary server's start-up per round."""
    import urllib.request

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    prefect = str(Path(sys.executable).with_name("prefect"))
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=(work / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=5) as r:
                if r.status == 200:
                    return server, api
        except OSError:
            time.sleep(1)
    os.killpg(server.pid, signal.SIGKILL)
    raise TimeoutError("the Prefect server did not start")


class Runner:
    """Starts `zeroloop run` on one run directory, each time in a new session."""

    def __init__(self, work: Path, generations: int, token: str, extra_env: dict[str, str]) -> None:
        self.work = work
        self.config = work / "chaos.yaml"
        self.config.write_text(CONFIG)
        self.run_dir = work / "run"
        self.generations = generations
        self.token = token
        self.env = dict(os.environ)
        self.env.update(
            PREFECT_HOME=str(work / "prefect-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600",
            PREFECT_LOGGING_LEVEL="INFO",
            RAY_USAGE_STATS_ENABLED="0",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT / "src"),
            **{TOKEN_VAR: token},
        )
        self.env.pop("PREFECT_API_URL", None)
        self.env.update(extra_env)
        self.sessions: set[int] = set()
        self.starts = len(list(work.glob("run-*.log")))  # --continue: keep the earlier logs

    def start(self) -> tuple[subprocess.Popen[bytes], Path]:
        self.starts += 1
        log = self.work / f"run-{self.starts:02d}.log"
        cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(self.config)]
        cmd += ["--run-dir", str(self.run_dir), "--generations", str(self.generations)]
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.sessions.add(proc.pid)
        return proc, log

    def running_stage(self) -> tuple[int, str] | None:
        """(generation, stage) the manifest says comes next; None when all are done."""
        rd = RunDir.at(self.run_dir)
        manifest = rd.read_manifest().get("generations", {})
        for g in range(1, self.generations + 1):
            done = manifest.get(gen_name(g), {})
            for stage in PIPELINE:
                if stage not in done:
                    return g, stage
        return None


def flow_started(log: Path, session: int) -> bool:
    """The flow got past Prefect's and Ray's start-up: it logged its run line and this
    invocation's raylet is up (the flow starts Ray before any stage)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    if "generation(s) of" not in text:
        return False
    return any("raylet" in cmdline(pid) for pid in run_processes({session}, "-"))


def position(where: tuple[int, str]) -> int:
    """Order of (generation, stage) in the run."""
    return (where[0] - 1) * len(PIPELINE) + PIPELINE.index(where[1])


def kill_round(
    runner: Runner, rng: random.Random, hit: set[tuple[int, str]], jitter: float, patience: float
) -> dict[str, Any]:
    """Start the run, wait for the aimed-at stage, SIGKILL the group. One record.

    hit: the (generation, stage) pairs already killed; each is aimed at once, in order,
    so the kills cover every stage (a resumed stage is not killed again and again).
    """
    proc, log = runner.start()
    t0 = time.monotonic()
    ahead = runner.running_stage()
    if ahead is None:
        proc.wait()
        return {"outcome": "nothing left to kill"}
    targets = [
        (g, st)
        for g in range(ahead[0], runner.generations + 1)
        for st in PIPELINE[:-1]
        if position((g, st)) >= position(ahead) and (g, st) not in hit
    ]
    target = targets[0] if targets else ahead
    aim = target[1]
    # Preprocess, shuffle and promote take about a second on the tiny config: a longer
    # delay would always land the kill in the next stage.
    delay = rng.uniform(0.0, jitter * (0.1 if aim in SHORT_STAGES else 1.0))
    while proc.poll() is None and time.monotonic() - t0 < patience:
        now = runner.running_stage()
        if now is None:
            break
        if flow_started(log, proc.pid) and position(now) >= position(target):
            break
        time.sleep(0.2)
    time.sleep(delay)
    stage = runner.running_stage()
    record: dict[str, Any] = {
        "aim": f"{gen_name(target[0])} {aim}",
        "delay_s": round(delay, 2),
        "after_start_s": round(time.monotonic() - t0, 1),
        "flow_started": flow_started(log, proc.pid),
    }
    if proc.poll() is not None:
        # On a loaded machine `ray.init` can time out (Ray waits 30 s for its raylet):
        # the run exits by itself, and the next round resumes it like any other.
        record |= {"outcome": f"exited {proc.returncode} before the kill", "stage": None}
        record["leftover_processes"] = reap(runner.sessions, runner.token)
        return record
    hit.add(target)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    record["generation"], record["stage"] = stage if stage else (None, "after last stage")
    if not record["flow_started"]:
        record["stage"] = "startup"
    record["leftover_processes"] = reap(runner.sessions, runner.token)
    record["outcome"] = "killed"
    return record


def kill_actor_during_selfplay(
    runner: Runner, proc: subprocess.Popen[bytes], patience: float
) -> dict[str, Any]:
    """SIGKILL one self-play actor process of this run while self-play is running."""
    deadline = time.monotonic() + patience
    while proc.poll() is None and time.monotonic() < deadline:
        now = runner.running_stage()
        if now is None:
            break
        if now[1] == "selfplay":
            actors = [
                p for p in run_processes(runner.sessions, runner.token) if "ray::Selfplay" in cmdline(p)
            ]
            if actors:
                time.sleep(1.0)
                try:
                    os.kill(actors[0], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                return {
                    "generation": now[0],
                    "pid": actors[0],
                    "cmdline": cmdline(actors[0])[:80] or "(gone)",
                }
        time.sleep(0.3)
    return {"generation": None, "pid": None, "note": "no self-play actor found in time"}


# ----------------------------------------------------------------------------- checks


def check_run(run_dir: Path, generations: int, games: int) -> dict[str, Any]:
    """The end-of-benchmark checks; each is {'ok': bool, 'detail': ...}."""
    import pyarrow.ipc as ipc

    from zeroloop.evaluation.ladder import LadderError, load_ladder
    from zeroloop.model.file import ModelFileError, load_model_file

    rd = RunDir.at(run_dir)
    manifest = rd.read_manifest().get("generations", {})
    out: dict[str, Any] = {}
    missing = {
        gen_name(g): [s for s in PIPELINE if s not in manifest.get(gen_name(g), {})]
        for g in range(1, generations + 1)
    }
    missing = {k: v for k, v in missing.items() if v or not rd.model_path(int(k[4:])).exists()}
    out["generations_complete"] = {"ok": not missing, "detail": missing or "all stages of every generation"}

    counts, seeds = {}, {}
    for g in range(1, generations + 1):
        n = 0
        for chunk in sorted(rd.selfplay_dir(g).glob("*.arrow")):
            with ipc.open_file(str(chunk)) as reader:
                table = reader.read_all()
            n += table.num_rows
            for seed in set(table.column("seed").to_pylist()):
                seeds.setdefault(seed, []).append(str(chunk.relative_to(rd.root)))
        counts[gen_name(g)] = n
    wrong = {k: v for k, v in counts.items() if v != games}
    out["games_per_generation"] = {"ok": not wrong, "detail": counts}
    replayed = {s: f for s, f in seeds.items() if len(f) > 1}
    out["no_replayed_batch_seed"] = {
        "ok": not replayed,
        "detail": replayed or f"{len(seeds)} batch seeds, each in one chunk",
    }

    temps = [
        str(p.relative_to(rd.root))
        for p in rd.root.rglob("*")
        if p.name.endswith((".tmp", ".removing"))
        or "orbax-checkpoint-tmp" in p.name
        or p.name == "_intermediate"
    ]
    out["no_temporary_files"] = {"ok": not temps, "detail": temps or "none"}

    bad_models = []
    for g in range(0, generations + 1):
        try:
            load_model_file(rd.model_path(g))
        except ModelFileError as exc:
            bad_models.append(str(exc))
    out["models_load"] = {"ok": not bad_models, "detail": bad_models or f"{generations + 1} models load"}

    try:
        ladder = load_ladder(rd.root)
        # A match recorded twice (an evaluation redone after a kill) would count double.
        matches = Counter((r.source, r.a, r.b) for r in ladder.results)
        players = set(ladder.ratings)
        problems = [f"{k}: recorded {n} times" for k, n in matches.items() if n > 1]
        for g in range(1, generations + 1):
            if not any(Path(r.source).name == rd.eval_path(g).name for r in ladder.results):
                problems.append(f"{gen_name(g)}: no match in the ladder")
            if not any(gen_name(g) in p for p in players):
                problems.append(f"{gen_name(g)} not in the ladder")
            if not rd.eval_path(g).exists():
                problems.append(f"no {rd.eval_path(g).name}")
        detail: Any = problems or {n: r.elo for n, r in ladder.ratings.items()}
        out["elo_ladder_consistent"] = {"ok": not problems, "detail": detail}
    except LadderError as exc:
        out["elo_ladder_consistent"] = {"ok": False, "detail": str(exc)}
    return out


# ----------------------------------------------------------------------------- deployment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flow_run_state(api: str, run_id: str) -> str:
    """The state type of a flow run ("COMPLETED", "RUNNING", ...), read through the API."""
    import asyncio

    from prefect.client.orchestration import PrefectClient

    async def read() -> str:
        async with PrefectClient(api=api) as client:
            run = await client.read_flow_run(run_id)
            return run.state.type.value if run.state else "NONE"

    return asyncio.run(read())


def task_run_states(api: str, run_id: str) -> dict[str, list[str]]:
    """{stage: [state names]} of a flow run's task runs (named "<stage>-gen-GGGG")."""
    import asyncio

    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> dict[str, list[str]]:
        async with PrefectClient(api=api) as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
        states: dict[str, list[str]] = {}
        for r in runs:
            states.setdefault(r.name.split("-gen-")[0], []).append(r.state.name if r.state else "")
        return states

    return asyncio.run(read())


def deployment_kill(work: Path, token: str, patience: float) -> dict[str, Any]:
    """Serve the deployments, trigger one, SIGKILL the serving worker mid-run, restart, re-trigger."""
    import urllib.request

    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    runner = Runner(work, 1, token, {"PREFECT_API_URL": api})
    prefect = str(Path(sys.executable).with_name("prefect"))
    procs: list[subprocess.Popen[bytes]] = []
    record: dict[str, Any] = {}

    def spawn(cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            cmd,
            env=runner.env,
            stdout=(work / log).open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        runner.sessions.add(p.pid)
        procs.append(p)
        return p

    def trigger() -> str:
        done = subprocess.run(
            [prefect, "deployment", "run", "rl-loop/default", "--param", "generations=1"],
            env=runner.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        for word in done.stdout.split():
            if len(word) == 36 and word.count("-") == 4:
                return word
        raise RuntimeError(done.stdout + done.stderr)

    def state(run_id: str) -> str:
        return flow_run_state(api, run_id)

    serve_cmd = [sys.executable, "-m", "zeroloop", "serve", "--config", str(runner.config)]
    serve_cmd += [
        "--run-dir",
        str(runner.run_dir),
        "--sl-config",
        str(runner.config),
        "--sl-run-dir",
        str(work / "sl"),
    ]
    try:
        server = spawn([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], "server.log")
        deadline = time.monotonic() + patience
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prefect server did not start")
            time.sleep(1)
        serving = spawn(serve_cmd, "serve.log")
        deadline = time.monotonic() + patience
        while (
            "rl-loop/default"
            not in subprocess.run(
                [prefect, "deployment", "ls"], env=runner.env, capture_output=True, text=True
            ).stdout
        ):
            if time.monotonic() > deadline or serving.poll() is not None:
                raise TimeoutError("deployments not registered")
            time.sleep(2)
        first = trigger()
        record["first_run"] = first
        deadline = time.monotonic() + patience
        while runner.running_stage() in (None, (1, "selfplay")) and time.monotonic() < deadline:
            if RunDir.at(runner.run_dir).finished_stages(1):
                break
            time.sleep(0.5)
        while "selfplay" not in RunDir.at(runner.run_dir).finished_stages(1) and time.monotonic() < deadline:
            time.sleep(0.5)
        record["killed_in"] = runner.running_stage()
        os.killpg(serving.pid, signal.SIGKILL)
        serving.wait()
        # The flow run's own process dies with its worker (whatever session Prefect gave
        # it): everything of this benchmark except the Prefect server.
        orphans = [p for p in run_processes(runner.sessions, token) if session_of(p) != server.pid]
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        record["killed_processes"] = len(orphans) + 1
        record["first_run_state_after_kill"] = state(first)
        serving = spawn(serve_cmd, "serve.log")
        deadline = time.monotonic() + patience
        while (
            "rl-loop/default"
            not in subprocess.run(
                [prefect, "deployment", "ls"], env=runner.env, capture_output=True, text=True
            ).stdout
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("deployments not registered after restart")
            time.sleep(2)
        second = trigger()
        record["second_run"] = second
        deadline = time.monotonic() + 3 * patience
        final = state(second)
        while final not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") and time.monotonic() < deadline:
            time.sleep(3)
            final = state(second)
        record["second_run_state"] = final
        record["stages_done"] = sorted(RunDir.at(runner.run_dir).finished_stages(1))
        # What Prefect says of the second run's tasks: self-play finished before the
        # kill, so it must come back Cached, not be played again.
        record["second_run_tasks"] = task_run_states(api, second)
        record["survived"] = (
            final == "COMPLETED"
            and set(PIPELINE) <= set(record["stages_done"])
            and "Cached" in record["second_run_tasks"].get("selfplay", [])
        )
    except (TimeoutError, RuntimeError, subprocess.TimeoutExpired) as exc:
        record["error"] = str(exc)[-500:]
        record["survived"] = False
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        record["leftover_processes"] = reap(runner.sessions, token)
    return record


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs of the run's process group")
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--jitter", type=float, default=3.0, help="Max random delay after the aimed-at stage starts (s)"
    )
    ap.add_argument("--patience", type=float, default=600.0, help="Max wait for a stage or a run (s)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/zeroloop-chaos"))
    ap.add_argument("--out", type=Path, default=None, help="JSON report (default WORKDIR/chaos.json)")
    ap.add_argument(
        "--actor-kill", action="store_true", help="Also SIGKILL a self-play actor in the final run"
    )
    ap.add_argument("--deployment-kill", action="store_true", help="Also SIGKILL `zeroloop serve` mid-run")
    ap.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="Go on with WORKDIR's run and WORKDIR/rounds.jsonl (kills already made count)",
    )
    ap.add_argument(
        "--embedded",
        action="store_true",
        help="Each run starts Prefect's temporary server (default: one server for all rounds)",
    )
    ap.add_argument(
        "--deployment-only", action="store_true", help="Only the `zeroloop serve` kill (no run kills)"
    )
    args = ap.parse_args(argv)

    work = args.workdir.resolve()
    if args.deployment_only:
        record = deployment_kill(work / "deployment", uuid.uuid4().hex, args.patience)
        out = args.out or work / "chaos-deployment.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, default=str))
        print(f"deployment kill: {json.dumps(record, default=str)[:1500]}")
        print(f"survived/attempted: {int(bool(record.get('survived')))}/1; report {out}")
        return 0 if record.get("survived") else 1
    if (work / "run").exists() and not args.resume:
        print(f"error: {work / 'run'} exists; use a new --workdir (or --continue)", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    rng = random.Random(args.seed)
    server, extra = None, {}
    if not args.embedded:
        server, api = start_prefect_server(work, args.patience)
        extra = {"PREFECT_API_URL": api}
    runner = Runner(work, args.generations, token, extra)
    hit: set[tuple[int, str]] = set()
    rounds: list[dict[str, Any]] = []
    journal = work / "rounds.jsonl"  # one line per round, so --continue can go on from it
    if args.resume and journal.exists():
        rounds = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
        hit = {
            (r["generation"], r["stage"]) for r in rounds if r["outcome"] == "killed" and r.get("generation")
        }
        for _ in rounds:  # the same seeded delays as an uninterrupted benchmark
            rng.uniform(0.0, 1.0)
    t_start = time.monotonic()
    while len([r for r in rounds if r["outcome"] == "killed"]) < args.kills:
        rec = kill_round(runner, rng, hit, args.jitter, args.patience)
        rounds.append(rec)
        with journal.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)
        if rec["outcome"] == "killed" and rec.get("generation"):
            hit.add((rec["generation"], rec["stage"]))
        elif rec["outcome"] == "nothing left to kill" or len(rounds) > 3 * args.kills:
            break

    # The last run goes to the end (after an actor kill, if asked). A run that stops by
    # itself (not killed) is started again, up to 3 times: resuming is what is tested.
    actor, finals = None, []
    ahead = runner.running_stage()
    if args.actor_kill and (ahead is None or (ahead[1] != "selfplay" and ahead[0] == runner.generations)):
        # The kills went past the last self-play stage: one more generation plays, so
        # the actor kill lands in a self-play stage.
        runner.generations += 1
    for attempt in range(4):
        proc, log = runner.start()
        if args.actor_kill and (actor is None or not actor["pid"]) and runner.running_stage() is not None:
            actor = kill_actor_during_selfplay(runner, proc, args.patience) | {"attempt": attempt + 1}
        try:
            rc = proc.wait(timeout=6 * args.patience)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = -9
        finals.append(
            {"attempt": attempt + 1, "exit": rc, "log_tail": "" if rc == 0 else log.read_text()[-600:]}
        )
        print(json.dumps({"final_run": attempt + 1, "exit": rc}), flush=True)
        if rc == 0:
            break
        reap(runner.sessions, token)
    time.sleep(2)
    leftovers = reap(runner.sessions, token)
    if server is not None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    games = int(CONFIG.split("num_games: ")[1].split(",")[0])
    checks = check_run(runner.run_dir, runner.generations, games)
    checks["no_process_left"] = {"ok": not leftovers, "detail": leftovers or "none"}
    checks["final_run_exit"] = {"ok": rc == 0, "detail": rc if rc == 0 else log.read_text()[-2000:]}
    if actor is not None:
        restarts = (
            RunDir.at(runner.run_dir)
            .finished_stages(actor["generation"] or 1)
            .get("selfplay", {})
            .get("summary", {})
        ).get("worker_restarts")
        actor["worker_restarts_in_summary"] = restarts
        # Survived: the run it was killed in finished without a restart.
        actor["survived"] = bool(actor["pid"]) and finals[actor["attempt"] - 1]["exit"] == 0
    killed = [r for r in rounds if r["outcome"] == "killed"]
    survived = rc == 0 and all(c["ok"] for c in checks.values())
    report: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "seed": args.seed,
        "generations": runner.generations,
        "attempted": len(killed),
        "survived": len(killed) if survived else 0,
        "kills_by_stage": dict(Counter(r["stage"] for r in killed)),
        "leftover_processes_after_kills": sum(len(r.get("leftover_processes", [])) for r in killed),
        "rounds": rounds,
        "actor_kill": actor,
        "final_runs": finals,
        "checks": checks,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    if args.deployment_kill:
        report["deployment_kill"] = deployment_kill(work / "deployment", token, args.patience)
    out = args.out or work / "chaos.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, out)
    for name, c in checks.items():
        print(f"{'ok  ' if c['ok'] else 'FAIL'} {name}: {json.dumps(c['detail'], default=str)[:300]}")
    print(f"kills by stage: {report['kills_by_stage']}")
    if actor is not None:
        print(f"actor kill: {json.dumps(actor, default=str)}")
    if args.deployment_kill:
        print(f"deployment kill: {json.dumps(report['deployment_kill'], default=str)[:600]}")
    print(
        f"survived/attempted: {report['survived']}/{report['attempted']} "
        f"({report['seconds']} s); report {out}"
    )
    return 0 if survived else 1


if __name__ == "__main__":
    sys.exit(main())
