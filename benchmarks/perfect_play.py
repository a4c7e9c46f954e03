"""Perfect-play benchmark: how many won positions each generation converts against the
exact solver, and how often its raw value/policy heads are right on endgames.

    python benchmarks/perfect_play.py --run-dir runs/quick
    python benchmarks/perfect_play.py --run-dir runs/curve-7x7 --nodes 50000 --generations 10 12

For every one-move opening of the run's board size (5x5 in the quick preset; 7x7
needs a budget, --nodes, and leaves unprovable openings out), the solver names the
side that wins; the model (each generation's model file, searching --sims per move)
takes that side against the solver, which answers with a winning move when it has
one, else with its longest-resisting move. Then, on up to --positions self-play
positions of the run with at most --max-empty empty cells, the sign of the value head
against the exact result and whether the top policy move wins. One line per
generation; --json writes every figure. See docs/solver.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zeroloop.config import load_config
from zeroloop.evaluation.perfect_play import endgame_positions, perfect_play, solve_openings
from zeroloop.rundir import RunDir
from zeroloop.solver import Budget, Solver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run-dir", required=True, help="Run directory with models/gen-*.zlm.")
    p.add_argument("--generations", type=int, nargs="*", default=None, help="Generations (default all).")
    p.add_argument("--nodes", type=int, default=200_000, help="Solver node budget per solve.")
    p.add_argument("--sims", type=int, default=None, help="Model search per move (default eval's).")
    p.add_argument("--max-empty", type=int, default=8, help="Endgame positions: at most this many empty.")
    p.add_argument("--positions", type=int, default=200, help="Endgame positions sampled.")
    p.add_argument("--json", default=None, help="Write all figures to this JSON file.")
    return p.parse_args(argv)


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}%"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rd = RunDir.at(args.run_dir)
    if not rd.config_path.is_file():
        print(f"error: {rd.config_path}: no config.yaml (not a run directory?)", file=sys.stderr)
        return 2
    config = load_config(rd.config_path, [])
    models = sorted(Path(args.run_dir).glob("models/gen-*.zlm"))
    wanted = None if args.generations is None else set(args.generations)
    models = [m for m in models if wanted is None or int(m.stem.split("-")[1]) in wanted]
    if not models:
        print(f"error: no model files under {args.run_dir}/models", file=sys.stderr)
        return 2
    n = config.game.board_size
    endgames = endgame_positions(args.run_dir, n, args.max_empty, args.positions)
    # One solver for every generation: its table of proven results carries over.
    solver = Solver(n)
    winners = solve_openings(solver, Budget(nodes=args.nodes))
    print(
        f"{n}x{n}: one-move openings against the solver (nodes {args.nodes}); endgames: "
        f"{0 if endgames is None else len(endgames)} self-play positions with <= {args.max_empty} empty"
    )
    print("gen   black converted   white converted   unknown   value acc   top move wins   seconds")
    rows = []
    for path in models:
        s = perfect_play(
            config,
            path,
            nodes=args.nodes,
            simulations=args.sims,
            max_empty=args.max_empty,
            endgames=endgames,
            solver=solver,
            winners=winners,
        )
        gen = int(path.stem.split("-")[1])
        rows.append({"generation": gen, "model": str(path), **s.to_dict()})
        print(
            f"{gen:3d}   {s.black_converted:4d} / {s.black_won:<4d}"
            f"       {s.white_converted:4d} / {s.white_won:<4d}       {s.openings_unknown:3d}"
            f"      {_pct(s.value_accuracy)}      {_pct(s.policy_winning)}"
            f"      {s.seconds:6.1f}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
