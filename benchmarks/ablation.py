"""The ablation of issue 12: each learning lever on and off at a fixed loop budget, same seeds.

    python benchmarks/ablation.py --minutes 15 --arms base edge gumbel
    python benchmarks/ablation.py --list

Each arm runs `zeroloop run` from scratch in RUN_ROOT/ARM (the 7x7 settings of
docs/learning-curve-7x7-15min.md plus the arm's overrides; the preset's seeds, so
every arm starts from the same random net and the same game seeds), stops the loop
after --minutes, and measures the last generation whose model was written within the
budget against OpenSpiel MCTS at --budget simulations (--games games, colours
alternated, 95% Wilson interval; the model at --sims simulations). From the self-play
summaries of the generations within the budget it adds positions/s, the share of
searched rows that belong to live games and the first player's win rate.

An arm whose directory already holds `benchmark/ablation-arm.json` is not run again,
so an interrupted ablation resumes; a directory with a finished loop
(`benchmark/loop.json`, e.g. a longer learning curve of the same settings linked in as
the base arm) is measured at the budget without running the loop again. The table
(docs/ablation-7x7.md, .json, .png) is rewritten from every finished arm each time.

`--seed N` gives every arm the loop seeds N (self-play, weights, data, loader and shuffle;
the measurement's openings stay the same), for a second sample of the same arms: the
seed-to-seed spread at 7x7 is as wide as the arms' differences (docs/learning-efficiency.md).

Every arm's config is checked before the first loop starts, so an arm the preset refuses
(forced, fpu and dirichlet-total are PUCT options: add `mcts.mode=puct` to --base-set)
stops the ablation at once, naming the key, not after the arms before it have run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning_curve import (  # noqa: E402
    generation_times,
    measure_generation,
    measurement_config,
    run_loop_for,
)

# The 7x7 settings of docs/learning-curve-7x7-15min.md on the quick preset.
BASE_SET = [
    "game.board_size=7",
    "selfplay.batch_size=16",
    "selfplay.num_games=384",
    "eval.num_games=16",
    "eval.reference_games=10",
]

# The loop's seeds that --seed sets; eval.seed (the measurement's openings) is left alone.
SEED_KEYS = ["selfplay.seed", "train.seed", "data.seed", "data.loader.seed", "shuffle.seed"]

# arm -> (what it changes against the defaults, overrides)
ARMS: dict[str, tuple[str, list[str]]] = {
    "base": ("the preset's defaults (Gumbel MuZero since they switched)", []),
    "edge": ("edge input on", ["model.edge_input=true"]),
    "puct": ("PUCT instead of Gumbel MuZero", ["mcts.mode=puct"]),
    "gumbel": ("Gumbel MuZero (explicit; the presets' search)", ["mcts.mode=gumbel"]),
    "lockstep": ("continuous self-play off", ["selfplay.continuous=false"]),
    "no-carry": ("training carry-over off", ["train.carry_over=false"]),
    "openings": ("2 random opening plies", ["mcts.random_opening_plies=2"]),
    "swap": ("swap rule on", ["game.swap=true"]),
    "playout-cap": (
        "playout-cap randomisation (75% cheap, 8 sims)",
        ["mcts.playout_cap_fraction=0.75", "mcts.cheap_simulations=8"],
    ),
    "resign": ("resignation at -0.9", ["selfplay.resign_threshold=-0.9"]),
    "reuse-4": ("4 samples per new position", ["data.window.samples_per_new_position=4"]),
    "reuse-off": (
        "train.steps every generation, not tied to the new data",
        ["data.window.samples_per_new_position=null"],
    ),
    # PUCT-only levers: the presets search with Gumbel, so these need a PUCT base
    # (--base-set ... mcts.mode=puct); against a Gumbel base the config is refused.
    "dirichlet-total": ("Dirichlet alpha = 10.83 / legal moves", ["mcts.dirichlet_total=10.83"]),
    "forced": ("forced playouts k=2", ["mcts.forced_playouts=2"]),
    "fpu": ("FPU reduction 0.2", ["mcts.unvisited_mode=reduction", "mcts.unvisited_value=-0.2"]),
    "rescore": ("exact rescoring on", ["data.rescore.enabled=true"]),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--arms", nargs="+", default=["base"], help="Arms to run, in order (see --list).")
    p.add_argument("--list", action="store_true", help="List the arms and their overrides, then exit.")
    p.add_argument("--config", default="quick", help="Preset every arm starts from.")
    p.add_argument(
        "--base-set",
        nargs="*",
        default=BASE_SET,
        help="Overrides every arm shares (default: the 7x7 settings above).",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Loop seeds of every arm (self-play, weights, data, shuffle); 0 = the preset's.",
    )
    p.add_argument("--minutes", type=float, default=15.0, help="Loop budget of every arm.")
    p.add_argument("--budget", type=int, default=1000, help="OpenSpiel MCTS simulations of the opponent.")
    p.add_argument("--games", type=int, default=40, help="Games of the measurement (even).")
    p.add_argument("--sims", type=int, default=128, help="The model's search budget when measured.")
    p.add_argument("--run-root", default="runs/ablation-7x7", help="One run directory per arm under it.")
    p.add_argument("--docs", default="docs", help="Where the table and plot go.")
    p.add_argument("--name", default="ablation-7x7", help="File stem of the table and plot.")
    return p.parse_args(argv)


# ---- one arm -------------------------------------------------------------------------


def shared_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides every arm shares: --base-set, then the loop seeds of --seed (if not 0)."""
    seeds = [f"{key}={args.seed}" for key in SEED_KEYS] if args.seed else []
    return list(args.base_set) + seeds


def selfplay_figures(run_dir: Path, generations: list[int]) -> dict[str, float | None]:
    """Positions/s, live-row share and first-player win rate over these generations' self-play."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    summaries = [
        (manifest["generations"].get(f"gen-{g:04d}", {}).get("selfplay") or {}).get("summary") or {}
        for g in generations
    ]
    summaries = [s for s in summaries if s.get("games")]
    positions = sum(s.get("new_positions", s.get("positions", 0)) for s in summaries)
    seconds = sum(s.get("stage_seconds", 0.0) for s in summaries)
    searched = sum(s.get("searched_rows", 0) for s in summaries)
    live = sum(s.get("live_row_share", 0.0) * s.get("searched_rows", 0) for s in summaries)
    games = sum(s["games"] for s in summaries)
    first = sum((s.get("first_player_win_rate") or 0.0) * s["games"] for s in summaries)
    length = sum((s.get("mean_game_length") or 0.0) * s["games"] for s in summaries)
    return {
        "selfplay_games": games,
        "positions_per_second": positions / seconds if seconds else None,
        "live_row_share": live / searched if searched else None,
        "first_player_win_rate": first / games if games else None,
        "mean_game_length": length / games if games else None,
    }


def run_arm(args: argparse.Namespace, arm: str) -> dict[str, Any]:
    from zeroloop.data.atomic import write_json_atomic

    label, extra = ARMS[arm]
    if arm == "base" and list(args.base_set) != BASE_SET:
        label = "the preset with --base-set"  # e.g. a PUCT base for the PUCT-only levers
    run_dir = REPO / args.run_root / arm
    out = run_dir / "benchmark" / "ablation-arm.json"
    if out.exists():
        print(f"{arm}: measured already ({out})", flush=True)
        return json.loads(out.read_text())
    overrides = shared_overrides(args) + extra
    if not (run_dir / "benchmark" / "loop.json").exists():
        run_loop_for(run_dir, args.config, overrides, args.minutes, 10000)
    times = generation_times(run_dir, None)
    within = [g for g, t in times.items() if t <= args.minutes * 60]
    last = max(within, default=0)
    config = measurement_config(args.config, overrides, args.sims, 0)
    row = measure_generation(config, run_dir, last, times.get(last, 0.0) / 60, [args.budget], args.games)
    win = row[f"mcts:{args.budget}"] if row else (None, None, None)
    result = {
        "arm": arm,
        "label": label,
        "overrides": extra,
        "generation": last,
        "minutes": times.get(last, 0.0) / 60,
        "budget_minutes": args.minutes,
        "opponent": f"mcts:{args.budget}",
        "model_simulations": args.sims,
        "games": args.games,
        "win_rate": win[0],
        "win_rate_low": win[1],
        "win_rate_high": win[2],
        **selfplay_figures(run_dir, within),
    }
    write_json_atomic(out, result)
    return result


def arm_config_errors(args: argparse.Namespace) -> list[str]:
    """One line per arm of `args.arms` whose preset + shared + own overrides is not a valid config."""
    from zeroloop.config import ConfigError, load_config

    errors = []
    for arm in args.arms:
        try:
            load_config(args.config, shared_overrides(args) + ARMS[arm][1])
        except ConfigError as e:
            errors.append(f"arm {arm}: {e}")
    return errors


# ---- the table -----------------------------------------------------------------------


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def board_size(args: argparse.Namespace) -> int:
    from zeroloop.config import load_config

    return load_config(args.config, list(args.base_set)).game.board_size


def markdown(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    arms = " ".join(r["arm"] for r in results)
    n = board_size(args)
    shared = " ".join(f"`--set {o}`" for o in shared_overrides(args))
    lines = [
        f"# Ablation, {args.minutes:g}-minute loops at {n}x{n}",
        "",
        "```",
        f"python benchmarks/ablation.py --minutes {args.minutes:g} --budget {args.budget} "
        f"--games {args.games} --sims {args.sims} --run-root {args.run_root} --name {args.name} --arms {arms}"
        + ("" if list(args.base_set) == BASE_SET else " --base-set " + " ".join(args.base_set))
        + (f" --seed {args.seed}" if args.seed else ""),
        "```",
        "",
        f"Every arm: `zeroloop run --config {args.config}` with {shared} "
        f"plus the arm's overrides, from scratch, stopped after {args.minutes:g} minutes on the 2-core "
        f"machine. Win rate: the last model written within the budget (searching {args.sims} simulations) "
        f"against OpenSpiel MCTS-{args.budget}, {args.games} games, colours alternated, 95% Wilson interval. "
        "Self-play figures: over the generations within the budget.",
        "",
        "| arm | overrides | generations | win rate | 95% interval | positions/s | live rows | "
        "first-player wins | mean game length |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['arm']} ({r['label']}) | {' '.join(f'`{o}`' for o in r['overrides']) or '-'} | "
            f"{r['generation']} ({r['minutes']:.1f} min) | {fmt(r['win_rate'], '.1%')} | "
            f"[{fmt(r['win_rate_low'], '.2f')}, {fmt(r['win_rate_high'], '.2f')}] | "
            f"{fmt(r['positions_per_second'], '.0f')} | {fmt(r['live_row_share'], '.1%')} | "
            f"{fmt(r['first_player_win_rate'], '.1%')} | {fmt(r['mean_game_length'], '.1f')} |"
        )
    lines += ["", f"![ablation]({args.name}.png)", ""]
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = [r for r in results if r["win_rate"] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rs) + 1.2))
    y = range(len(rs))
    ax.errorbar(
        [r["win_rate"] for r in rs],
        list(y),
        xerr=[
            [r["win_rate"] - r["win_rate_low"] for r in rs],
            [r["win_rate_high"] - r["win_rate"] for r in rs],
        ],
        fmt="o",
        capsize=3,
    )
    base = next((r for r in rs if r["arm"] == "base"), None)
    if base:
        ax.axvline(base["win_rate"], color="grey", linestyle=":", label="base")
    ax.set_yticks(list(y), [r["arm"] for r in rs])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("win rate against the reference (95% Wilson interval)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for arm, (label, extra) in ARMS.items():
            print(f"{arm:16s} {label}: {' '.join(extra) or '(none)'}")
        return
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        sys.exit(f"unknown arm(s) {', '.join(unknown)}; --list shows them")
    refused = arm_config_errors(args)
    if refused:
        sys.exit("\n".join(refused))
    os.chdir(REPO)
    for arm in args.arms:
        r = run_arm(args, arm)
        print(
            f"{arm}: gen {r['generation']} ({r['minutes']:.1f} min) win rate {fmt(r['win_rate'], '.2f')} "
            f"[{fmt(r['win_rate_low'], '.2f')}, {fmt(r['win_rate_high'], '.2f')}], "
            f"{fmt(r['positions_per_second'], '.0f')} positions/s, "
            f"live rows {fmt(r['live_row_share'], '.1%')}",
            flush=True,
        )
    done = [
        json.loads(p.read_text())
        for arm in ARMS
        if (p := REPO / args.run_root / arm / "benchmark" / "ablation-arm.json").exists()
    ]
    docs = REPO / args.docs
    docs.mkdir(parents=True, exist_ok=True)
    (docs / f"{args.name}.md").write_text(markdown(args, done))
    (docs / f"{args.name}.json").write_text(json.dumps(done, indent=2) + "\n")
    n = board_size(args)
    plot(done, docs / f"{args.name}.png", f"{n}x{n}, {args.minutes:g}-minute loops vs MCTS-{args.budget}")
    print(f"wrote {docs / args.name}.md, .json and .png", flush=True)


if __name__ == "__main__":
    main()
