"""The Elo ladder of a run: every recorded match, and ratings fitted to all of them.

`<run_dir>/eval/elo.json` holds the raw results (who played whom, how many wins each) and
the ratings last fitted from them. Ratings are a Bradley-Terry (logistic Elo) maximum
likelihood fit over *all* results, with one player (the anchor, `random` by default)
fixed at 0, so a rating does not depend on the order in which matches were played,
and adding a match refines every rating it touches.

Fit, in natural units r = Elo * ln(10) / 400, for players i, j with w_ij wins of i
over j and n_ij = w_ij + w_ji games between them:

    log L(r) = sum_{i,j} (w_ij + a/2) * log sigmoid(r_i - r_j)

where a = `prior_games` adds a virtual drawn game to every pair that has met: without
it a player who won every game would run off to infinity. Newton's method with the
anchor fixed; standard errors come from the inverse of the Hessian (observed Fisher
information). Players with no chain of matches to the anchor cannot be placed on the
anchor's scale; their rating is None.

Records are idempotent: each carries the generation and stage that played it, and
`record_results` *replaces* every record of that (generation, stage) instead of
appending. Evaluating a generation again (`--force evaluate`, a changed `eval.*` key,
a kill between the ladder write and Prefect storing the result) therefore leaves
the ladder holding exactly the matches of the latest evaluation, never the same
games twice. Within one call, a record is keyed by (generation, stage, players); the
players are an unordered pair, so a second record for the same pair replaces the
first too.

The file is written atomically (temporary name, then rename) under an exclusive lock,
so two evaluations finishing together do not lose each other's results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zeroloop.data.atomic import write_json_atomic
from zeroloop.evaluation.stats import ELO_SCALE

LADDER_FILE = "eval/elo.json"  # as zeroloop.rundir.RunDir.ladder_path
LADDER_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 had no generation/stage: its records are kept as they are
DEFAULT_ANCHOR = "random"
NAT = math.log(10.0) / ELO_SCALE  # Elo points -> natural logit units


class LadderError(ValueError):
    """elo.json is unreadable or does not have the expected structure."""


@dataclass(frozen=True)
class MatchRecord:
    """One match between two players: `a_wins` + `b_wins` games in all."""

    a: str
    b: str
    a_wins: int
    b_wins: int
    source: str = ""
    time: float = 0.0
    generation: int | None = None
    stage: str = ""

    @property
    def games(self) -> int:
        return self.a_wins + self.b_wins

    @property
    def key(self) -> tuple[int | None, str, tuple[str, str]]:
        """(generation, stage, players): what identifies a match on the ladder."""
        return (self.generation, self.stage, (min(self.a, self.b), max(self.a, self.b)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchRecord:
        try:
            rec = cls(
                a=str(data["a"]),
                b=str(data["b"]),
                a_wins=int(data["a_wins"]),
                b_wins=int(data["b_wins"]),
                source=str(data.get("source", "")),
                time=float(data.get("time", 0.0)),
                generation=None if data.get("generation") is None else int(data["generation"]),
                stage=str(data.get("stage", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LadderError(f"bad match record {data!r}: {exc}") from None
        if rec.a == rec.b or rec.a_wins < 0 or rec.b_wins < 0:
            raise LadderError(f"bad match record {data!r}")
        return rec


@dataclass(frozen=True)
class Rating:
    """A fitted rating. elo/stderr are None for a player not connected to the anchor."""

    name: str
    elo: float | None
    stderr: float | None
    games: int
    wins: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Ladder:
    """All results of a run and the ratings fitted to them."""

    results: list[MatchRecord] = field(default_factory=list)
    anchor: str = DEFAULT_ANCHOR
    prior_games: float = 1.0
    ratings: dict[str, Rating] = field(default_factory=dict)

    def add(
        self,
        a: str,
        b: str,
        a_wins: int,
        b_wins: int,
        source: str = "",
        generation: int | None = None,
        stage: str = "",
    ) -> None:
        """Add a match result, replacing a record with the same key (call `fit()` afterwards).

        Records without a stage (ad hoc matches) are only ever appended.
        """
        rec = MatchRecord.from_dict(
            {
                "a": a,
                "b": b,
                "a_wins": a_wins,
                "b_wins": b_wins,
                "source": source,
                "time": time.time(),
                "generation": generation,
                "stage": stage,
            }
        )
        if stage:
            self.results = [r for r in self.results if r.key != rec.key]
        self.results.append(rec)

    def drop(self, generation: int | None, stage: str) -> int:
        """Remove every record of (generation, stage); returns how many went."""
        keep = [r for r in self.results if not (r.stage == stage and r.generation == generation)]
        dropped = len(self.results) - len(keep)
        self.results = keep
        return dropped

    def fit(self) -> dict[str, Rating]:
        self.ratings = fit_ratings(self.results, self.anchor, self.prior_games)
        return self.ratings

    def sorted_ratings(self) -> list[Rating]:
        """Strongest first; unplaced players last."""
        return sorted(self.ratings.values(), key=lambda r: (r.elo is None, -(r.elo or 0.0), r.name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": LADDER_VERSION,
            "anchor": self.anchor,
            "prior_games": self.prior_games,
            "results": [r.to_dict() for r in self.results],
            # name -> Elo of every placed player, for simple readers; `players` has the rest.
            "ratings": {n: r.elo for n, r in sorted(self.ratings.items()) if r.elo is not None},
            "players": {n: r.to_dict() for n, r in sorted(self.ratings.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ladder:
        if not isinstance(data, dict) or data.get("version") not in READABLE_VERSIONS:
            raise LadderError(f"not an Elo ladder (versions {', '.join(map(str, READABLE_VERSIONS))})")
        ladder = cls(
            results=[MatchRecord.from_dict(r) for r in data.get("results", [])],
            anchor=str(data.get("anchor", DEFAULT_ANCHOR)),
            prior_games=float(data.get("prior_games", 1.0)),
        )
        # Ratings are derived data: refit rather than trust what the file says.
        ladder.fit()
        return ladder


def _players(results: Sequence[MatchRecord]) -> list[str]:
    return sorted({r.a for r in results} | {r.b for r in results})


def fit_ratings(
    results: Sequence[MatchRecord], anchor: str = DEFAULT_ANCHOR, prior_games: float = 1.0
) -> dict[str, Rating]:
    """Maximum-likelihood Elo ratings with `anchor` fixed at 0 (see the module docstring).

    When the anchor has not played, the player with the most games is the anchor.
    """
    names = _players(results)
    if not names:
        return {}
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    wins = np.zeros((k, k))  # wins[i, j]: games i won against j
    for r in results:
        wins[index[r.a], index[r.b]] += r.a_wins
        wins[index[r.b], index[r.a]] += r.b_wins
    games = wins + wins.T
    met = games > 0
    if anchor not in index:
        anchor = names[int(np.argmax(games.sum(1)))]
    reach = _reachable(met, index[anchor])
    placed = [i for i in range(k) if reach[i] and i != index[anchor]]

    w = wins + 0.5 * prior_games * met
    n = w + w.T
    r = np.zeros(k)
    free = np.array(placed, dtype=int)
    cov = np.zeros((0, 0))
    if len(free):
        for _ in range(100):
            diff = r[:, None] - r[None, :]
            p = 1.0 / (1.0 + np.exp(-diff))
            grad = (w - n * p).sum(1)
            info = n * p * (1 - p)  # -d2 logL / dr_i dr_j for i != j is -info_ij
            hess = np.diag(info.sum(1)) - info  # = -Hessian (positive semi-definite)
            h = hess[np.ix_(free, free)]
            step = np.linalg.solve(h, grad[free])
            step = np.clip(step, -4.0, 4.0)  # a damped first step from 0 when results are lopsided
            r[free] += step
            if np.max(np.abs(step)) < 1e-10:
                break
        diff = r[:, None] - r[None, :]
        p = 1.0 / (1.0 + np.exp(-diff))
        info = n * p * (1 - p)
        cov = np.linalg.inv((np.diag(info.sum(1)) - info)[np.ix_(free, free)])

    out: dict[str, Rating] = {}
    pos = {int(i): j for j, i in enumerate(free)}
    for name, i in index.items():
        if i == index[anchor]:
            elo, se = 0.0, 0.0
        elif i in pos:
            elo = float(r[i] / NAT)
            se = float(math.sqrt(max(cov[pos[i], pos[i]], 0.0)) / NAT)
        else:
            elo, se = None, None
        out[name] = Rating(name=name, elo=elo, stderr=se, games=int(games[i].sum()), wins=int(wins[i].sum()))
    return out


def _reachable(met: np.ndarray, start: int) -> np.ndarray:
    seen = np.zeros(len(met), dtype=bool)
    seen[start] = True
    stack = [start]
    while stack:
        i = stack.pop()
        for j in np.flatnonzero(met[i] & ~seen):
            seen[j] = True
            stack.append(int(j))
    return seen


# ---- the file in the run directory ---------------------------------------------------


def ladder_path(run_dir: str | os.PathLike[str]) -> Path:
    """RUN_DIR/eval/elo.json."""
    return Path(run_dir) / LADDER_FILE


def load_ladder(run_dir: str | os.PathLike[str]) -> Ladder:
    """The run's ladder (empty when there is no elo.json yet). Raises LadderError."""
    path = ladder_path(run_dir)
    if not path.exists():
        return Ladder()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LadderError(f"{path}: {exc}") from None
    try:
        return Ladder.from_dict(data)
    except LadderError as exc:
        raise LadderError(f"{path}: {exc}") from None


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    lock = ladder_path(run_dir).with_name(".elo.json.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record_results(
    run_dir: str | os.PathLike[str],
    matches: Sequence[tuple[str, str, int, int, str]],
    generation: int | None = None,
    stage: str = "",
) -> Ladder:
    """Record (a, b, a_wins, b_wins, source) results on the run's ladder, refit, write atomically.

    With a `stage` (the rl-loop's `evaluate`, or an ad hoc match's output file), the
    results replace every earlier record of (generation, stage): recording the same
    evaluation twice leaves the ladder as after the first time. Without one they are
    appended. The read-modify-write runs under an exclusive lock.
    """
    run_dir = Path(run_dir)
    with _locked(run_dir):
        ladder = load_ladder(run_dir)
        if stage:
            ladder.drop(generation, stage)
        for a, b, a_wins, b_wins, source in matches:
            ladder.add(a, b, a_wins, b_wins, source, generation=generation, stage=stage)
        ladder.fit()
        write_json_atomic(ladder_path(run_dir), ladder.to_dict())
    return ladder


def ladder_rows(ladder: Ladder) -> list[dict[str, Any]]:
    """One JSON-able row per player, strongest first: rank, name, elo, stderr, games, wins."""
    rows = []
    for rank, r in enumerate(ladder.sorted_ratings(), start=1):
        # The anchor is whoever sits at exactly 0 +- 0 (the configured one, or the stand-in
        # fit_ratings picked when the configured anchor has not played).
        rows.append({"rank": rank, **r.to_dict(), "anchor": r.elo == 0.0 and r.stderr == 0.0})
    return rows


def ladder_table(ladder: Ladder, title: str = "Elo ladder") -> Any:
    """A rich Table of the ladder (for `zeroloop status` and `zeroloop evaluate`)."""
    from rich.table import Table  # rich is only needed by the terminal front ends

    table = Table(title=title)
    for col, justify in (
        ("#", "right"),
        ("player", "left"),
        ("Elo", "right"),
        ("±", "right"),
        ("games", "right"),
        ("wins", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in ladder_rows(ladder):
        elo = "—" if row["elo"] is None else f"{row['elo']:.0f}"
        se = "—" if row["stderr"] is None else f"{row['stderr']:.0f}"
        name = row["name"] + (" (anchor)" if row["anchor"] else "")
        table.add_row(str(row["rank"]), name, elo, se, str(row["games"]), str(row["wins"]))
    return table
