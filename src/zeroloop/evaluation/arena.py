"""The evaluation stage: candidate vs opponent, statistics, gating, the ladder.

`run_evaluation` plays `eval.num_games` games between the candidate (the newly
trained model) and the opponent (the best model so far, or a reference opponent),
colours alternated and openings varied (`zeroloop.evaluation.match`), on Ray arena
workers when `eval.num_workers > 0` and in this process otherwise. Between two
deterministic agents, a game that replays an earlier one is counted once. It reports
the candidate's win rate with its Wilson interval and the Elo difference with its
interval, decides promotion (gating on a lower confidence bound), writes everything
to `out_path` atomically, and, given the run directory, records the results on the
run's Elo ladder (replacing the records of an earlier evaluation of the same
generation), playing the reference opponents of `eval.references` first.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zeroloop.config import ZeroloopConfig
from zeroloop.config.evaluation import EvalConfig
from zeroloop.data.atomic import write_json_atomic
from zeroloop.evaluation.agents import Agent, AgentSpec, build_agent, is_deterministic, parse_agent_spec
from zeroloop.evaluation.ladder import record_results
from zeroloop.evaluation.match import GameResult, Progress, find_replays, play_games, schedule_games
from zeroloop.evaluation.stats import match_stats, wilson_lower_bound

log = logging.getLogger(__name__)

COLOR_NAMES = ("black", "white")


@dataclass(frozen=True)
class MatchSummary:
    """Agent A's results against agent B (A is the candidate)."""

    a: str
    b: str
    games: int
    wins: int
    win_rate: float
    win_rate_low: float
    win_rate_high: float
    elo: float | None
    elo_low: float | None
    elo_high: float | None
    confidence: float
    black_games: int
    black_wins: int
    white_games: int
    white_wins: int
    replays: int = 0  # games played but not counted: exact replays of an earlier game

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalSummary:
    """What `run_evaluation` returns (and writes, with the games, to its JSON file).

    Flat fields describe the main match (candidate vs opponent); `references` holds a
    MatchSummary dict for each reference opponent played for the ladder.
    """

    candidate: str
    opponent: str
    games: int
    wins: int
    losses: int
    win_rate: float
    win_rate_low: float
    win_rate_high: float
    elo: float | None
    elo_low: float | None
    elo_high: float | None
    confidence: float
    black_games: int
    black_wins: int
    white_games: int
    white_wins: int
    promoted: bool
    reason: str
    gating: bool
    gating_threshold: float
    out_path: str
    seconds: float
    generation: int | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    # Reference opponents left out because their model file is damaged or unreadable:
    # [{"source", "reason"}]; the rest of the ladder is still played.
    skipped_references: list[dict[str, str]] = field(default_factory=list)
    replays: int = 0
    gating_confidence: float = 0.5
    gating_bound: float | None = None  # the win rate's lower bound that gating compared

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gating_decision(wins: int, games: int, config: EvalConfig) -> tuple[bool, str]:
    """Promote the candidate? Always with gating off (AlphaZero, KataGo).

    With gating on: when the one-sided Wilson lower bound of the win rate at
    `eval.gating_confidence` reaches `eval.gating_threshold`, i.e. when the match shows
    (at that confidence) that the candidate wins at least that often. At the defaults
    (0.95, 0.5) a candidate exactly as strong as the best model is promoted about 5%
    of the time whatever the number of games; comparing the point estimate with 0.55
    (the old rule, `gating_confidence: 0.5`) promoted it 19% of the time at 64 games.
    """
    rate = wins / games if games else 0.5
    if games == 0:
        return True, "no games played: the candidate is promoted"
    if not config.gating:
        return True, f"gating off: always promote (win rate {rate:.3f})"
    bound = wilson_lower_bound(wins, games, config.gating_confidence)
    what = (
        f"win rate {rate:.3f} ({wins}/{games})"
        if config.gating_confidence == 0.5
        else f"win rate {rate:.3f} ({wins}/{games}), {config.gating_confidence:.0%} lower bound {bound:.3f}"
    )
    if bound >= config.gating_threshold:
        return True, f"{what} >= threshold {config.gating_threshold}"
    return False, f"{what} < threshold {config.gating_threshold}"


def summarise(
    a: str,
    b: str,
    results: Sequence[GameResult],
    confidence: float,
    replays: dict[int, int] | None = None,
) -> MatchSummary:
    """A's wins, win rate, Elo and intervals, and A's results by colour.

    replays: {game index: index of the game it replays} (`find_replays`); those games
    are left out of every count, so a replayed game counts once.
    """
    replays = replays or {}
    counted = [r for r in results if r.index not in replays]
    wins = sum(r.a_won for r in counted)
    stats = match_stats(wins, len(counted), confidence)
    black = [r for r in counted if r.a_color == 0]
    white = [r for r in counted if r.a_color == 1]
    return MatchSummary(
        a=a,
        b=b,
        games=stats.games,
        wins=stats.wins,
        win_rate=stats.win_rate,
        win_rate_low=stats.win_rate_low,
        win_rate_high=stats.win_rate_high,
        elo=stats.elo,
        elo_low=stats.elo_low,
        elo_high=stats.elo_high,
        confidence=confidence,
        black_games=len(black),
        black_wins=sum(r.a_won for r in black),
        white_games=len(white),
        white_wins=sum(r.a_won for r in white),
        replays=len(results) - len(counted),
    )


class AgentPool:
    """Builds each agent once per evaluation (a model agent compiles its search)."""

    def __init__(self, config: ZeroloopConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self._agents: dict[AgentSpec, Agent] = {}

    def get(self, spec: AgentSpec) -> Agent:
        if spec not in self._agents:
            self._agents[spec] = build_agent(
                spec,
                self.config.game,
                self.config.mcts,
                self.config.eval,
                self.config.model,
                seed=self.seed + len(self._agents),
            )
        return self._agents[spec]


def resolve_spec(spec: str | os.PathLike[str] | AgentSpec, config: EvalConfig) -> AgentSpec:
    """Parse a spec and fill in the budgets the config gives it, so its ladder name says them.

    A model gets `eval.num_simulations`, OpenSpiel's MCTS `eval.mcts_rollouts`, unless
    the spec names its own.
    """
    parsed = parse_agent_spec(spec)
    if parsed.kind == "model" and parsed.simulations is None:
        parsed = replace(parsed, simulations=config.num_simulations)
    if parsed.kind == "mcts" and parsed.rollouts is None:
        parsed = replace(parsed, rollouts=config.mcts_rollouts)
    return parsed


def match_replays(
    config: ZeroloopConfig, a: AgentSpec, b: AgentSpec, results: Sequence[GameResult]
) -> dict[int, int]:
    """`find_replays` when both agents are deterministic; nothing otherwise.

    A stochastic agent that plays the same game twice has made two independent
    draws, which count as two games.
    """
    if not (is_deterministic(a, config.mcts) and is_deterministic(b, config.mcts)):
        return {}
    return find_replays(results, config.game.board_size, config.game.swap)


def play_match(
    config: ZeroloopConfig,
    a: AgentSpec,
    b: AgentSpec,
    num_games: int,
    seed: int,
    pool: AgentPool | None = None,
    progress: Progress | None = None,
) -> list[GameResult]:
    """Play a scheduled match between the agents two specs name, here or on Ray."""
    cfg = config.eval
    games = schedule_games(num_games, config.game.board_size, cfg.opening_plies, seed)
    if not games:
        return []
    if cfg.num_workers > 0:
        from zeroloop.workers.arena_actor import play_on_ray

        return play_on_ray(config, a, b, games, seed=seed, progress=progress)
    pool = pool or AgentPool(config, seed)
    return play_games(
        pool.get(a), pool.get(b), games, config.game.board_size, config.game.swap, progress=progress
    )


def game_rows(
    results: Sequence[GameResult], board_size: int, replays: dict[int, int] | None = None
) -> list[dict[str, Any]]:
    """JSON rows of a match's games, with a TRMPH record for people and other tools.

    `replay_of` is the index of the game a row replays (not counted), else null.
    """
    from zeroloop.games.trmph import format_record

    return [
        {
            "index": r.index,
            "candidate_color": COLOR_NAMES[r.a_color],
            "winner": COLOR_NAMES[r.winner],
            "candidate_won": r.a_won,
            "replay_of": (replays or {}).get(r.index),
            "opening_plies": r.opening_plies,
            "moves": list(r.moves),
            "record": format_record(board_size, r.moves, r.winner),
        }
        for r in results
    ]


def run_evaluation(
    config: ZeroloopConfig,
    candidate: str | os.PathLike[str] | AgentSpec,
    opponent: str | os.PathLike[str] | AgentSpec | None,
    out_path: str | os.PathLike[str],
    *,
    num_games: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    generation: int | None = None,
    references: Sequence[str] | None = None,
    progress: Progress | None = None,
    stage: str | None = None,
) -> EvalSummary:
    """Evaluate `candidate` against `opponent` and write the result JSON atomically.

    candidate, opponent: model file paths or agent specs (`random`, `mcts:200`,
        `model:PATH@SIMS`; see `zeroloop.evaluation.agents`). `opponent=None` (no best
        model yet) plays no main match and promotes the candidate.
    num_games: games of the main match (default `eval.num_games`).
    run_dir: when given, every match is recorded on the run's Elo ladder
        (`RUN_DIR/eval/elo.json`), and the candidate also plays each of `references`
        (default `eval.references`) `eval.reference_games` times.
    progress: called as progress(games_done, games_total) across all matches.
    stage: the ladder key of these matches with `generation` (default `evaluate` for a
        generation, `match:<out_path>` otherwise); recording again under the same key
        replaces the earlier records instead of adding to them.
    """
    start = time.perf_counter()
    cfg = config.eval
    cand = resolve_spec(candidate, cfg)
    opp = None if opponent is None else resolve_spec(opponent, cfg)
    n_main = (cfg.num_games if num_games is None else num_games) if opp is not None else 0
    refs = [resolve_spec(s, cfg) for s in (cfg.references if references is None else references)]
    refs = [r for r in refs if r != opp] if run_dir is not None and cfg.reference_games > 0 else []
    refs, skipped_refs = usable_references(refs)
    total = n_main + len(refs) * cfg.reference_games
    seed = cfg.seed + (generation or 0)
    pool = AgentPool(config, seed) if cfg.num_workers == 0 else None
    done_before = 0

    def sub_progress(done: int, _total: int) -> None:
        if progress:
            progress(done_before + done, total)

    main_results = (
        play_match(config, cand, opp, n_main, cfg.seed, pool, sub_progress) if opp is not None else []
    )
    done_before += n_main
    main_replays = match_replays(config, cand, opp, main_results) if opp is not None else {}
    main = summarise(cand.name, opp.name if opp else "", main_results, cfg.confidence, main_replays)
    ref_matches: list[tuple[MatchSummary, list[GameResult], dict[int, int]]] = []
    for ref in refs:
        results = play_match(config, cand, ref, cfg.reference_games, cfg.seed + 1, pool, sub_progress)
        done_before += cfg.reference_games
        reps = match_replays(config, cand, ref, results)
        ref_matches.append((summarise(cand.name, ref.name, results, cfg.confidence, reps), results, reps))

    promoted, reason = gating_decision(main.wins, main.games, cfg)
    summary = EvalSummary(
        candidate=main.a,
        opponent=main.b,
        games=main.games,
        wins=main.wins,
        losses=main.games - main.wins,
        win_rate=main.win_rate,
        win_rate_low=main.win_rate_low,
        win_rate_high=main.win_rate_high,
        elo=main.elo,
        elo_low=main.elo_low,
        elo_high=main.elo_high,
        confidence=main.confidence,
        black_games=main.black_games,
        black_wins=main.black_wins,
        white_games=main.white_games,
        white_wins=main.white_wins,
        promoted=promoted,
        reason=reason,
        gating=cfg.gating,
        gating_threshold=cfg.gating_threshold,
        out_path=str(out_path),
        seconds=time.perf_counter() - start,
        generation=generation,
        references=[m.to_dict() for m, _, _ in ref_matches],
        skipped_references=skipped_refs,
        replays=main.replays,
        gating_confidence=cfg.gating_confidence,
        gating_bound=wilson_lower_bound(main.wins, main.games, cfg.gating_confidence) if main.games else None,
    )
    n = config.game.board_size
    write_json_atomic(
        out_path,
        {
            **summary.to_dict(),
            "candidate_spec": _spec_text(cand),
            "opponent_spec": _spec_text(opp) if opp else None,
            "game": config.game.model_dump(mode="json"),
            "eval": cfg.model_dump(mode="json"),
            "games_played": game_rows(main_results, n, main_replays),
            "reference_games_played": {m.b: game_rows(r, n, reps) for m, r, reps in ref_matches},
        },
    )
    if run_dir is not None:
        matches = [(m.a, m.b, m.wins, m.games - m.wins, str(out_path)) for m, _, _ in ref_matches]
        if main.games:
            matches.insert(0, (main.a, main.b, main.wins, main.games - main.wins, str(out_path)))
        key = stage or ("evaluate" if generation is not None else f"match:{out_path}")
        # Even with no match to record, an evaluation replaces the records of its key.
        record_results(run_dir, matches, generation=generation, stage=key)
    return summary


def usable_references(refs: Sequence[AgentSpec]) -> tuple[list[AgentSpec], list[dict[str, str]]]:
    """(references whose model file reads and checks, the others with the reason).

    A reference is only a rung of the ladder: a damaged file (checksum mismatch,
    truncated) is reported and left out, and never moved - models are kept. The
    candidate and the opponent are not checked here: without them there is no match,
    so their ModelFileError stops the stage with its one-line message.
    """
    from zeroloop.model.file import ModelFileError, read_model_header  # JAX only when needed

    good: list[AgentSpec] = []
    skipped: list[dict[str, str]] = []
    for ref in refs:
        if ref.kind == "model" and ref.path:
            try:
                read_model_header(ref.path)
            except ModelFileError as exc:
                log.warning("evaluation: skipping reference %s", exc)
                skipped.append({"source": ref.path, "reason": str(exc)})
                continue
        good.append(ref)
    return good, skipped


def _spec_text(spec: AgentSpec) -> str:
    if spec.kind == "random":
        return "random"
    if spec.kind == "mcts":
        return f"mcts:{spec.simulations}:{spec.uct_c:g}:{spec.rollouts or 1}"
    return f"model:{spec.path or 'random'}" + (f"@{spec.simulations}" if spec.simulations else "")


def load_eval(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an eval JSON written by `run_evaluation`."""
    import json

    return json.loads(Path(path).read_text())
