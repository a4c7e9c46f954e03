"""Eval section: arena, gating and reference opponents."""

from __future__ import annotations

from pydantic import Field, field_validator

from zeroloop.config.base import Section


class PerfectPlayConfig(Section):
    """Per-generation figures against the exact solver (docs/solver.md); small boards only."""

    enabled: bool = Field(False, description="Add perfect-play figures to the evaluate stage's summary.")
    max_board_size: int = Field(5, ge=2, le=9, description="Skipped on boards larger than this.")
    nodes: int = Field(20_000, ge=1, description="Solver node budget per solve; unknown = left out.")
    max_empty: int = Field(8, ge=0, description="Endgame positions: at most this many empty cells.")
    positions: int = Field(200, ge=0, description="Self-play endgame positions sampled.")


class EvalConfig(Section):
    num_games: int = Field(64, ge=0, description="Arena games per evaluation (0 = skip).")
    num_simulations: int = Field(32, ge=1, description="Search budget of both sides.")
    gating: bool = Field(
        False,
        description="Promote only when the win rate's lower confidence bound reaches gating_threshold.",
    )
    gating_threshold: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Win rate the candidate must be shown to reach (at gating_confidence) to be promoted.",
    )
    gating_confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1,
        description="Gating promotes when the one-sided Wilson lower bound of the win rate at this "
        "level reaches gating_threshold; 0.5 compares the point estimate (docs/evaluation.md gives "
        "the false-promotion rates).",
    )
    opening_plies: int = Field(
        1,
        ge=0,
        le=8,
        description="Random plies that open each game (drawn without replacement, lengthened when the "
        "board has fewer openings than the match has pairs); each opening is played twice, colours swapped.",
    )
    batch_size: int = Field(32, ge=1, description="Games a worker plays in lock-step (one search batch).")
    num_workers: int = Field(
        0, ge=0, description="Ray arena workers; 0 = play in the calling process without Ray."
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each arena worker.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the reported intervals.")
    mcts_rollouts: int = Field(
        1, ge=1, description="Random rollouts per leaf of the OpenSpiel MCTS reference opponent."
    )
    references: list[str] = Field(
        default_factory=lambda: ["random"],
        description="Reference opponents the candidate also plays each generation for the Elo ladder, "
        "e.g. ['random', 'mcts:200'] (specs as for `zeroloop evaluate --opponent`); 'random' anchors "
        "the ladder at 0.",
    )
    reference_games: int = Field(
        20, ge=0, description="Games against each reference opponent per generation."
    )
    seed: int = Field(0, description="Seed of the openings and of the opponents' randomness.")
    perfect_play: PerfectPlayConfig = Field(
        default_factory=PerfectPlayConfig, description="Figures against the exact solver."
    )

    @field_validator("references")
    @classmethod
    def _specs_look_right(cls, specs: list[str]) -> list[str]:
        for s in specs:
            if not (s == "random" or s.startswith("mcts:") or s.startswith("model:")):
                raise ValueError(f"{s!r}: expected 'random', 'mcts:SIMS' or 'model:PATH[@SIMS]'")
        return specs
