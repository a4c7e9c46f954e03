"""Proof of learning: run a preset from scratch, then measure each generation against
OpenSpiel's MCTS (random rollouts) at fixed simulation budgets.

    python benchmarks/learning_curve.py --config configs/quick.yaml --budgets 200 --games 20
    python benchmarks/learning_curve.py --config configs/default.yaml --budgets 1000 \\
        --minutes 60 --run-dir runs/curve-7x7 --generations 12

1. Runs the whole loop, `zeroloop run` (zeroloop.flows.rl_loop, embedded Prefect and
   local Ray), in a subprocess on a fresh run directory, timed from the start of that
   process. Each generation's wall time is when its model was written (the manifest's
   `finished_at` of its train stage) minus that start: start-up and compilation count.
   If `zeroloop.flows` is missing it calls the stage functions in sequence instead.
2. Afterwards, with the loop stopped so the two do not share the 2 CPU cores, plays
   every generation's model (generation 0 = random weights) against `mcts:B` for each
   budget B: `--games` games, colours alternated, openings varied (zeroloop.evaluation),
   in this process or on `--workers` Ray arena workers. `--skip-loop` measures an
   existing run directory again, timed from the start recorded in its benchmark/loop.json.
3. Prints, per generation, wall time and win rate (Wilson interval) against each
   budget; writes a table (markdown) and a PNG plot to `--docs` (default docs/), and
   says whether the goal (`--goal` win rate against the largest budget within
   `--minutes`) was reached, and if not, what was.

Take it as a benchmark, not a test: it is long (minutes to an hour) and wants a quiet
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/quick.yaml", help="Preset to run.")
    p.add_argument("--run-dir", default="runs/learning-curve", help="Fresh run directory.")
    p.add_argument("--generations", type=int, default=None, help="Generations (default: config's).")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="Config override.")
    p.add_argument("--budgets", type=int, nargs="+", default=[200], help="MCTS simulation budgets.")
    p.add_argument("--games", type=int, default=20, help="Games per model and budget (even).")
    p.add_argument("--sims", type=int, default=None, help="Model search budget (default eval's).")
    p.add_argument("--goal", type=float, default=0.9, help="Target win rate vs the largest budget.")
    p.add_argument(
        "--hold",
        type=float,
        default=None,
        help="Win rate every measured point after the goal's must keep (stable, not a peak); "
        "the goal counts from the first point after which none falls below it.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="Time limit of the goal.")
    p.add_argument("--docs", default="docs", help="Where the table and plot go.")
    p.add_argument("--name", default=None, help="File stem (default learning-curve-<N>x<N>).")
    p.add_argument("--skip-loop", action="store_true", help="Only evaluate an existing run directory.")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Ray arena workers for the measurement (0 = in this process); the loop is stopped "
        "by then, so 2 workers use both cores (set eval.batch_size to games/workers).",
    )
    p.add_argument(
        "--loop-minutes",
        type=float,
        default=None,
        help="Stop the loop after this many minutes (Ctrl-C to its process group, then SIGKILL) "
        "instead of waiting for --generations; the generations written by then are measured.",
    )
    p.add_argument(
        "--every",
        type=int,
        default=1,
        help="Measure every K-th generation (and the last): strong MCTS budgets are slow to play.",
    )
    return p.parse_args(argv)


# ---- 1. the loop ---------------------------------------------------------------------


def run_loop(args: argparse.Namespace) -> float:
    """Run the loop to completion; returns its start time (epoch seconds)."""
    run_dir = Path(args.run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        sys.exit(f"{run_dir} is not empty: the benchmark starts from scratch (or pass --skip-loop)")
    if args.loop_minutes is not None:
        generations = args.generations or 10000
        return run_loop_for(run_dir, args.config, args.overrides, args.loop_minutes, generations)
    start = time.time()
    try:
        import zeroloop.flows.rl_loop  # noqa: F401
    except ImportError:
        run_stages_in_sequence(args)
        record_loop_times(run_dir, start, time.time())
        return start
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", args.config, "--run-dir", str(run_dir)]
    if args.generations:
        cmd += ["--generations", str(args.generations)]
    for o in args.overrides:
        cmd += ["--set", o]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    record_loop_times(run_dir, start, time.time())
    return start


def run_loop_for(run_dir: Path, config: str, overrides: list[str], minutes: float, generations: int) -> float:
    """`zeroloop run` from scratch, stopped after `minutes` (or when `generations` are done).

    Records the start and end in benchmark/loop.json; returns the start (epoch seconds).
    """
    from zeroloop.data.atomic import write_json_atomic

    if run_dir.exists() and any(run_dir.iterdir()):
        sys.exit(f"{run_dir} is not empty: a loop starts from scratch (remove it to run the loop again)")
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", config, "--run-dir", str(run_dir)]
    cmd += ["--generations", str(generations)]
    for o in overrides:
        cmd += ["--set", o]
    print("$", " ".join(cmd), flush=True)
    start = time.time()
    # Its own session, so the stop reaches the flow's children (Ray's workers) too.
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True)
    try:
        proc.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        stop(proc)
    end = time.time()
    write_json_atomic(
        run_dir / "benchmark" / "loop.json", {"start": start, "end": end, "minutes": (end - start) / 60}
    )
    return start


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C to the loop's process group (Ray shuts down cleanly), then SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def record_loop_times(run_dir: Path, start: float, end: float) -> None:
    """Keep the loop's start and end, so a later --skip-loop measures from the same start."""
    from zeroloop.data.atomic import write_json_atomic

    out = run_dir / "benchmark" / "loop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, {"start": start, "end": end, "minutes": (end - start) / 60})


def run_stages_in_sequence(args: argparse.Namespace) -> None:
    """The loop without zeroloop.flows: the stage functions one after another.

    Mirrors the flow's order (self-play with the best model, preprocess, shuffle,
    train from the previous model, evaluate, promote) and writes the same manifest, so
    step 2 reads both kinds of run the same way. (Train/test shard choice as in
    zeroloop.flows.plan with the whole history as the window.)
    """
    from zeroloop.config import load_config, write_run_config  # noqa: I001 (trainer.train_stage may not exist yet)
    from zeroloop.data.preprocess import run_preprocess
    from zeroloop.data.shuffle import run_shuffle
    from zeroloop.evaluation.arena import run_evaluation
    from zeroloop.model.file import save_model_file
    from zeroloop.model.network import create_model
    from zeroloop.rundir import RunDir
    from zeroloop.trainer.train_stage import run_training
    from zeroloop.workers.selfplay_stage import run_selfplay

    config = load_config(args.config, args.overrides)
    rd = RunDir.at(args.run_dir)
    write_run_config(rd.root, config)
    save_model_file(rd.model_path(0), create_model(config.model), config.game, {"generation": 0})
    rd.set_best(0, "initial random weights")
    for g in range(1, (args.generations or config.orchestration.generations) + 1):
        best = rd.best_model()
        s = run_selfplay(config, rd.selfplay_dir(g), model_path=best)
        rd.mark_done(g, "selfplay", s.to_dict())
        p = run_preprocess(config, [rd.selfplay_dir(g)], rd.positions_dir(g))
        rd.mark_done(g, "preprocess", p.to_dict())
        window = [str(rd.positions_dir(h) / "train") for h in range(1, g + 1)]
        sh = run_shuffle(config, window, rd.shuffled_dir(g))
        rd.mark_done(g, "shuffle", sh.to_dict())
        tests = [str(rd.positions_dir(h) / "test") for h in range(1, g + 1)]
        t = run_training(
            config,
            [str(rd.shuffled_dir(g))],
            [d for d in tests if Path(d).exists()],
            rd.checkpoint_dir(g),
            init_model=best,
            export_path=rd.model_path(g),
            metadata={"generation": g},
        )
        rd.mark_done(g, "train", t.to_dict())
        e = run_evaluation(config, rd.model_path(g), best, rd.eval_path(g), run_dir=rd.root, generation=g)
        rd.mark_done(g, "evaluate", e.to_dict())
        if e.promoted:
            rd.set_best(g, e.reason)


# ---- 2. measure each generation ------------------------------------------------------


def generation_times(run_dir: Path, start: float | None) -> dict[int, float]:
    """Generation -> seconds from the loop's start until its model was written."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    finished: dict[int, float] = {}
    for name, stages in manifest.get("generations", {}).items():
        stamp = (stages.get("train") or {}).get("finished_at")
        if stamp:
            finished[int(name.split("-")[1])] = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    loop_file = run_dir / "benchmark" / "loop.json"
    if start is None and loop_file.exists():  # --skip-loop: the recorded start of the loop
        start = float(json.loads(loop_file.read_text())["start"])
    if start is None:  # no record: the run directory's config file, written seconds after
        start = (run_dir / "config.yaml").stat().st_mtime
    return {g: t - start for g, t in sorted(finished.items())}


def measure(args: argparse.Namespace, times: dict[int, float]) -> list[dict[str, Any]]:
    """Every --every-th generation of the run (and gen 0 and the last) against each budget."""
    config = measurement_config(args.config, args.overrides, args.sims, args.workers)
    gens = [0, *times]
    rows = []
    for g in [g for g in gens if g % args.every == 0 or g == gens[-1]]:
        row = measure_generation(
            config, Path(args.run_dir), g, times.get(g, 0.0) / 60, args.budgets, args.games
        )
        if row is not None:
            rows.append(row)
    return rows


def measurement_config(config_name: str, overrides: list[str], sims: int | None, workers: int) -> Any:
    """The run's config with the model's search budget and the arena's workers for measuring."""
    from zeroloop.config import load_config

    extra = ([f"eval.num_simulations={sims}"] if sims else []) + [f"eval.num_workers={workers}"]
    return load_config(config_name, list(overrides) + extra)


def measure_generation(
    config: Any, run_dir: Path, g: int, minutes: float, budgets: list[int], games: int
) -> dict[str, Any] | None:
    """One generation's model against OpenSpiel MCTS at each budget: a table row, or None without a model."""
    from zeroloop.evaluation.arena import run_evaluation
    from zeroloop.rundir import RunDir

    rd = RunDir.at(run_dir)
    model = rd.model_path(g)
    if not model.exists():
        print(f"gen {g}: no model at {model}, skipped", flush=True)
        return None
    row: dict[str, Any] = {"generation": g, "minutes": minutes}
    for budget in budgets:
        t0 = time.perf_counter()
        s = run_evaluation(
            config,
            f"model:{model}",
            f"mcts:{budget}",
            rd.root / "benchmark" / f"gen-{g:04d}-sims{config.eval.num_simulations}-vs-mcts{budget}.json",
            num_games=games,
        )
        row[f"mcts:{budget}"] = (s.win_rate, s.win_rate_low, s.win_rate_high)
        print(
            f"gen {g:3d}  {minutes:6.1f} min  vs mcts:{budget:<5d} "
            f"win rate {s.win_rate:.2f} [{s.win_rate_low:.2f}, {s.win_rate_high:.2f}] "
            f"({s.wins}/{s.games}, {time.perf_counter() - t0:.0f} s to measure)",
            flush=True,
        )
    return row


# ---- 3. report -----------------------------------------------------------------------


def markdown(args: argparse.Namespace, rows: list[dict[str, Any]], n: int, verdict: str) -> str:
    head = "| generation | wall time (min) | " + " | ".join(f"vs mcts:{b}" for b in args.budgets) + " |"
    lines = [
        f"# Learning curve, {n}x{n}",
        "",
        "```",
        reproduce_command(args, rows[-1]["generation"] if rows else None),
        "```",
        "",
        f"Machine: {os.cpu_count()} CPU cores. Wall time: from the start of `zeroloop run` until the "
        "generation's model was written. Win rate of the model (search budget "
        f"{args.sims or 'eval.num_simulations'}) over {args.games} games, colours alternated, with "
        "its 95% Wilson interval.",
        "",
        head,
        "|" + " --- |" * (2 + len(args.budgets)),
    ]
    for r in rows:
        cells = [
            f"{r[f'mcts:{b}'][0]:.2f} [{r[f'mcts:{b}'][1]:.2f}, {r[f'mcts:{b}'][2]:.2f}]"
            for b in args.budgets
        ]
        lines.append(f"| {r['generation']} | {r['minutes']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", verdict, "", f"![learning curve]({plot_name(args, n)})", ""]
    return "\n".join(lines)


def reproduce_command(args: argparse.Namespace, last_generation: int | None) -> str:
    """The one command that reruns loop and measurement (a --skip-loop run included)."""
    parts = ["python benchmarks/learning_curve.py", f"--config {args.config}"]
    parts += [f"--set {o}" for o in args.overrides]
    generations = args.generations or last_generation
    parts += [f"--run-dir {args.run_dir}"] + ([f"--generations {generations}"] if generations else [])
    parts += [f"--loop-minutes {args.loop_minutes:g}"] if args.loop_minutes is not None else []
    parts += [f"--budgets {' '.join(map(str, args.budgets))}", f"--games {args.games}"]
    parts += [f"--every {args.every}"] if args.every != 1 else []
    parts += [f"--sims {args.sims}"] if args.sims else []
    parts += [f"--workers {args.workers}"] if args.workers else []
    parts += [f"--goal {args.goal:g}"] + ([f"--hold {args.hold:g}"] if args.hold is not None else [])
    parts += [f"--minutes {args.minutes:g}"] + ([f"--name {args.name}"] if args.name else [])
    return " \\\n    ".join(parts)


def plot_name(args: argparse.Namespace, n: int) -> str:
    return f"{args.name or f'learning-curve-{n}x{n}'}.png"


def plot(args: argparse.Namespace, rows: list[dict[str, Any]], n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    minutes = [r["minutes"] for r in rows]
    for b in args.budgets:
        rate = [r[f"mcts:{b}"][0] for r in rows]
        err = [
            [r[f"mcts:{b}"][0] - r[f"mcts:{b}"][1] for r in rows],
            [r[f"mcts:{b}"][2] - r[f"mcts:{b}"][0] for r in rows],
        ]
        ax.errorbar(minutes, rate, yerr=err, marker="o", capsize=3, label=f"vs OpenSpiel MCTS {b} sims")
    ax.axhline(args.goal, color="grey", linestyle="--", linewidth=1, label=f"goal {args.goal:.0%}")
    ax.axvline(args.minutes, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("wall time (minutes, 2 CPU cores)")
    ax.set_ylabel("win rate (95% Wilson interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"zeroloop {n}x{n}: {args.config}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def verdict(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    key = f"mcts:{max(args.budgets)}"
    hits = [r for r in rows if r[key][0] >= args.goal and r["minutes"] <= args.minutes]
    if args.hold is not None:
        # Stable, not a peak: only a hit after which no measured point falls below `hold`.
        hits = [r for i, r in enumerate(rows) if r in hits and all(x[key][0] >= args.hold for x in rows[i:])]
    if hits:
        r = hits[0]
        later = rows[rows.index(r) :]
        held = (
            f"; every point from then to {later[-1]['minutes']:.1f} minutes won at least "
            f"{min(x[key][0] for x in later):.1%} (hold {args.hold:.0%})"
            if args.hold is not None
            else ""
        )
        return (
            f"Goal reached: generation {r['generation']} won {r[key][0]:.1%} against {key} "
            f"after {r['minutes']:.1f} minutes (goal {args.goal:.0%} within {args.minutes:g}){held}."
        )
    best = max(rows, key=lambda r: r[key][0]) if rows else None
    if best is None:
        return "Goal not reached: no generation was measured."
    return (
        f"Goal not reached: best {best[key][0]:.1%} against {key} (generation "
        f"{best['generation']}, {best['minutes']:.1f} minutes); goal {args.goal:.0%} "
        f"within {args.minutes:g} minutes"
        + (f", holding {args.hold:.0%} after it" if args.hold is not None else "")
        + "."
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.chdir(REPO)
    start = None if args.skip_loop else run_loop(args)
    times = generation_times(Path(args.run_dir), start)
    rows = measure(args, times)
    from zeroloop.config import load_config

    n = load_config(args.config, args.overrides).game.board_size
    text = verdict(args, rows)
    print(text)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    stem = plot_name(args, n).removesuffix(".png")
    (docs / f"{stem}.md").write_text(markdown(args, rows, n, text))
    plot(args, rows, n, docs / f"{stem}.png")
    (docs / f"{stem}.json").write_text(json.dumps({"rows": rows, "verdict": text}, indent=2) + "\n")
    print(f"wrote {docs / stem}.md, .png and .json")


if __name__ == "__main__":
    main()
