"""How often does gating promote a candidate that is no stronger than the best model?

For each number of games and each gating rule, prints the promotion rate of a
candidate with a true win rate of 0.5 (false promotion) and of stronger ones (power):
exactly, as a sum over the binomial outcomes (`promotion_probability`), and by
simulation through the decision function the arena uses (`gating_decision`), so the
two can be compared. Rules: the old one (point estimate >= 0.55, i.e.
`eval.gating_confidence: 0.5, eval.gating_threshold: 0.55`) and the default (one-sided
95% Wilson lower bound >= 0.5).

    python benchmarks/gating_false_promotion.py [--trials 20000] [--games 20 40 64 100 200 400]

No timing: the figures are the same on any machine.
"""

from __future__ import annotations

import argparse

import numpy as np

from zeroloop.config.evaluation import EvalConfig
from zeroloop.evaluation.arena import gating_decision
from zeroloop.evaluation.stats import promotion_probability

RULES = {
    "point >= 0.55": EvalConfig(gating=True, gating_threshold=0.55, gating_confidence=0.5),
    "95% LCB >= 0.5": EvalConfig(gating=True, gating_threshold=0.5, gating_confidence=0.95),
}
TRUE_RATES = (0.5, 0.6, 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20_000, help="Simulated matches per cell.")
    parser.add_argument("--games", type=int, nargs="+", default=[20, 40, 64, 100, 200, 400])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    head = "| rule | games | " + " | ".join(f"p = {p} exact (simulated)" for p in TRUE_RATES) + " |"
    print(head)
    print("|" + " --- |" * (2 + len(TRUE_RATES)))
    for name, cfg in RULES.items():
        for games in args.games:
            cells = []
            for p in TRUE_RATES:
                exact = promotion_probability(p, games, cfg.gating_threshold, cfg.gating_confidence)
                wins = rng.binomial(games, p, size=args.trials)
                # The decision depends on wins only: evaluate each distinct outcome once.
                promote = {int(w): gating_decision(int(w), games, cfg)[0] for w in np.unique(wins)}
                simulated = float(np.mean([promote[int(w)] for w in wins]))
                cells.append(f"{exact:.3f} ({simulated:.3f})")
            print(f"| {name} | {games} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
