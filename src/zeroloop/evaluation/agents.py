"""Agents: anything that picks moves, and the specs that name them.

An agent answers `choose_moves(games)`: for a batch of positions, each given by the
list of board-frame moves that led to it (N*N = swap), it returns one legal move per
position. Passing move lists keeps every kind of agent on one interface: our model
replays them into JAX states in one jitted call, OpenSpiel replays them into pyspiel
states, the random agent into a numpy board.

A spec is a short string that names an agent and is cheap to send to a Ray worker:

    random              uniform over legal moves
    mcts:200            OpenSpiel MCTSBot, 200 simulations, random rollouts
    mcts:200:1.4        ... with UCT constant 1.4
    mcts:200:1.4:4      ... and 4 rollouts per leaf (default eval.mcts_rollouts)
    mcts:200:c1.4:r4    the same, as the ladder writes it
    model:PATH          our model file at eval.num_simulations
    model:PATH@64       ... at 64 simulations
    PATH[@64]           a path to an existing model file is a model spec too
    model:random[@N]    a random-weights network (tests, GTP smoke runs)

A spec's `name` identifies the player on the Elo ladder fully, so that two different
players never share a rating: `mcts:200:c2:r1` (simulations, UCT constant, rollouts),
`gen-0003.1a2b3c4d@32` (file stem, the first 8 hex digits of the file's SHA-256, and
the search budget).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from zeroloop.config.evaluation import EvalConfig
from zeroloop.config.game import GameConfig
from zeroloop.config.mcts import MctsConfig
from zeroloop.config.model import ModelConfig
from zeroloop.games.board import replay


class Agent(Protocol):
    """Picks moves. `name` identifies it on the Elo ladder."""

    name: str

    def choose_moves(self, games: Sequence[Sequence[int]]) -> list[int]:
        """games: B move lists (board frame) -> B legal moves (board frame)."""
        ...


def legal_moves(moves: Sequence[int], board_size: int, swap: bool) -> np.ndarray:
    """int [K]: the legal moves after `moves` (empty cells, plus N*N when swap is legal)."""
    board = replay(board_size, moves, swap=swap, check_end=False)[-1].reshape(-1)
    legal = np.flatnonzero(board == 0)
    if swap and len(moves) == 1:
        legal = np.append(legal, board_size * board_size)
    return legal


class RandomAgent:
    """Uniform over legal moves; the Elo ladder's anchor (rated 0)."""

    def __init__(self, board_size: int, swap: bool, seed: int = 0) -> None:
        self.name = "random"
        self.board_size = board_size
        self.swap = swap
        self._rng = np.random.default_rng(seed)

    def choose_moves(self, games: Sequence[Sequence[int]]) -> list[int]:
        return [int(self._rng.choice(legal_moves(m, self.board_size, self.swap))) for m in games]


@dataclass(frozen=True)
class AgentSpec:
    """What to build: kind is 'random', 'mcts' or 'model'."""

    kind: str
    simulations: int | None = None
    path: str | None = None  # model file; None with kind 'model' = random weights
    uct_c: float = 2.0
    label: str | None = None  # ladder name override
    rollouts: int | None = None  # MCTS rollouts per leaf; None = eval.mcts_rollouts
    digest: str | None = None  # model file: first 8 hex digits of its SHA-256

    @property
    def name(self) -> str:
        """The ladder name: `random`, `mcts:200:c2:r1`, `<model stem>.<digest>@<sims>`."""
        if self.label:
            return self.label
        if self.kind == "random":
            return "random"
        if self.kind == "mcts":
            return f"mcts:{self.simulations}:c{self.uct_c:g}:r{self.rollouts or 1}"
        stem = Path(self.path).stem if self.path else "random-net"
        if self.digest:
            stem = f"{stem}.{self.digest}"
        return f"{stem}@{self.simulations}" if self.simulations else stem


def file_digest(path: str | Path) -> str:
    """First 8 hex digits of the SHA-256 of a file's bytes (what names a model file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:8]


def is_deterministic(spec: AgentSpec, mcts: MctsConfig) -> bool:
    """Does this agent always answer a position with the same move?

    Our model with PUCT (root noise is off in evaluation) or with Gumbel at
    `gumbel_scale = 0` does; uniform random and OpenSpiel's MCTS (random rollouts) do
    not. Two deterministic agents replay a game exactly whenever they meet in the same
    position, which `zeroloop.evaluation.match.find_replays` uses.
    """
    return spec.kind == "model" and (mcts.mode == "puct" or mcts.gumbel_scale == 0)


class AgentSpecError(ValueError):
    """An opponent spec that cannot be understood."""


def parse_agent_spec(text: str | Path | AgentSpec) -> AgentSpec:
    """Parse a spec string (see the module docstring)."""
    if isinstance(text, AgentSpec):
        return text
    s = str(text).strip()
    if s == "random":
        return AgentSpec("random")
    if s.startswith("mcts:"):
        parts = s.split(":")[1:]
        usage = f"{s!r}: expected mcts:SIMS[:UCT_C[:ROLLOUTS]] with SIMS, ROLLOUTS >= 1"
        try:
            sims = int(parts[0])
            uct_c = float(parts[1].removeprefix("c")) if len(parts) > 1 else 2.0
            rollouts = int(parts[2].removeprefix("r")) if len(parts) > 2 else None
        except (ValueError, IndexError):
            raise AgentSpecError(usage) from None
        if sims < 1 or len(parts) > 3 or (rollouts is not None and rollouts < 1):
            raise AgentSpecError(usage)
        return AgentSpec("mcts", simulations=sims, uct_c=uct_c, rollouts=rollouts)
    body = s.removeprefix("model:")
    sims = None
    head, at, tail = body.rpartition("@")
    if at and tail.isdigit() and int(tail) >= 1:
        body, sims = head, int(tail)
    if body == "random":
        return AgentSpec("model", simulations=sims, path=None)
    if not Path(body).is_file():
        what = "no such model file" if s.startswith("model:") else "not an opponent spec"
        raise AgentSpecError(
            f"{s!r}: {what} (specs: random, mcts:SIMS[:UCT_C[:ROLLOUTS]], model:PATH[@SIMS], "
            "model:random[@SIMS])"
        )
    return AgentSpec("model", simulations=sims, path=body, digest=file_digest(body))


def build_agent(
    spec: AgentSpec | str,
    game: GameConfig,
    mcts: MctsConfig | None = None,
    eval_config: EvalConfig | None = None,
    model_config: ModelConfig | None = None,
    seed: int = 0,
    batch_size: int | None = None,
) -> Agent:
    """Build the agent a spec names for `game`.

    Model agents search with `mcts` (noise off, best move) at the spec's simulations or
    `eval_config.num_simulations`; a random-weights net uses `model_config`.
    """
    spec = parse_agent_spec(spec)
    eval_config = eval_config or EvalConfig()
    if spec.kind == "random":
        return RandomAgent(game.board_size, game.swap, seed=seed)
    if spec.kind == "mcts":
        from zeroloop.evaluation.openspiel import OpenSpielMCTSAgent

        return OpenSpielMCTSAgent(
            game.board_size,
            game.swap,
            spec.simulations or 100,
            uct_c=spec.uct_c,
            rollouts=spec.rollouts or eval_config.mcts_rollouts,
            seed=seed,
        )
    from zeroloop.evaluation.model_agent import ModelAgent

    return ModelAgent.from_spec(
        spec,
        game,
        mcts or MctsConfig(),
        simulations=spec.simulations or eval_config.num_simulations,
        model_config=model_config,
        seed=seed,
        batch_size=batch_size or eval_config.batch_size,
    )
