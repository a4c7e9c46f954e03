"""Elo ladder: maximum-likelihood fit, anchoring, and the elo.json file."""

import json
import math
from pathlib import Path

import pytest

from zeroloop.evaluation.ladder import (
    Ladder,
    LadderError,
    MatchRecord,
    fit_ratings,
    ladder_path,
    ladder_rows,
    ladder_table,
    load_ladder,
    record_results,
)

LOG3 = 400 * math.log10(3)  # 190.85: a 3:1 score


def rec(a: str, b: str, aw: int, bw: int) -> MatchRecord:
    return MatchRecord(a, b, aw, bw)


def test_one_pair_without_prior_is_the_match_elo() -> None:
    r = fit_ratings([rec("gen-1", "random", 15, 5)], prior_games=0)
    assert r["random"].elo == 0.0
    assert r["gen-1"].elo == pytest.approx(LOG3, abs=1e-6)
    # stderr = 1 / sqrt(n p (1 - p)) in logits = 1 / sqrt(20 * 0.75 * 0.25), times 400 / ln 10.
    assert r["gen-1"].stderr == pytest.approx(400 / math.log(10) / math.sqrt(3.75), abs=1e-6)
    assert (r["gen-1"].games, r["gen-1"].wins) == (20, 15)


def test_prior_adds_a_virtual_draw() -> None:
    # One virtual game split 0.5/0.5: 15.5 : 5.5.
    r = fit_ratings([rec("gen-1", "random", 15, 5)], prior_games=1)
    assert r["gen-1"].elo == pytest.approx(400 * math.log10(15.5 / 5.5), abs=1e-6)  # 180.03


def test_perfect_score_stays_finite() -> None:
    r = fit_ratings([rec("gen-1", "random", 20, 0)])
    assert r["gen-1"].elo == pytest.approx(400 * math.log10(20.5 / 0.5), abs=1e-6)


def test_chain_adds_up_and_order_does_not_matter() -> None:
    # A tree of matches: each edge's MLE is its own match score.
    results = [rec("a", "random", 15, 5), rec("b", "a", 3, 1), rec("random", "c", 12, 4)]
    r = fit_ratings(results, prior_games=0)
    assert r["a"].elo == pytest.approx(LOG3, abs=1e-6)
    assert r["b"].elo == pytest.approx(2 * LOG3, abs=1e-6)
    assert r["c"].elo == pytest.approx(-LOG3, abs=1e-6)
    again = fit_ratings(list(reversed(results)), prior_games=0)
    assert {k: v.elo for k, v in again.items()} == pytest.approx({k: v.elo for k, v in r.items()})


def test_cycle_is_fitted_jointly() -> None:
    # a beats random 3:1, b beats random 3:1, a and b split evenly: by symmetry a == b,
    # and the extra a-b games do not move them.
    results = [rec("a", "random", 30, 10), rec("b", "random", 30, 10), rec("a", "b", 10, 10)]
    r = fit_ratings(results, prior_games=0)
    assert r["a"].elo == pytest.approx(r["b"].elo, abs=1e-6)
    assert r["a"].elo == pytest.approx(LOG3, abs=1e-6)
    # Likelihood gradient is zero at the fit: expected wins equal actual wins for every player.
    p = 1 / (1 + 10 ** (-(r["a"].elo - r["random"].elo) / 400))
    assert 40 * p * 2 == pytest.approx(60, abs=1e-6)


def test_unconnected_player_is_unplaced_and_missing_anchor_falls_back() -> None:
    r = fit_ratings([rec("a", "random", 3, 1), rec("x", "y", 2, 2)])
    assert r["x"].elo is None and r["y"].elo is None
    r = fit_ratings([rec("gen-2", "gen-1", 6, 2), rec("gen-3", "gen-2", 5, 5)], anchor="random")
    # Anchored on the most-played player instead.
    assert r["gen-2"].elo == 0.0 and r["gen-2"].stderr == 0.0
    assert r["gen-1"].elo < 0 < r["gen-3"].elo + 1e-9


def test_file_round_trip_and_table(tmp_path: Path) -> None:
    assert load_ladder(tmp_path).results == []
    record_results(tmp_path, [("gen-1", "random", 15, 5, "eval/gen-0001.json")])
    ladder = record_results(tmp_path, [("gen-2", "gen-1", 12, 8, "eval/gen-0002.json")])
    path = ladder_path(tmp_path)
    assert path == tmp_path / "eval" / "elo.json"
    data = json.loads(path.read_text())
    assert [r["a"] for r in data["results"]] == ["gen-1", "gen-2"]
    assert data["ratings"]["random"] == 0.0  # simple name -> Elo map
    assert set(data["players"]) == {"random", "gen-1", "gen-2"}
    again = load_ladder(tmp_path)
    assert {k: v.elo for k, v in again.ratings.items()} == pytest.approx(
        {k: v.elo for k, v in ladder.ratings.items()}
    )
    rows = ladder_rows(again)
    assert [r["name"] for r in rows] == ["gen-2", "gen-1", "random"]
    assert rows[-1]["anchor"] and rows[0]["rank"] == 1
    assert ladder_table(again).row_count == 3
    assert not list(path.parent.glob("*.tmp"))


def test_ladder_add_and_fit() -> None:
    ladder = Ladder()
    ladder.add("mcts:200", "random", 19, 1)
    ladder.fit()
    assert ladder.sorted_ratings()[0].name == "mcts:200"


def test_recording_an_evaluation_again_replaces_it(tmp_path: Path) -> None:
    """Records are keyed by (generation, stage, players): a rerun does not count twice."""
    first = record_results(
        tmp_path, [("gen-1", "random", 15, 5, "e1"), ("gen-1", "mcts:50", 2, 8, "e1")], 1, "evaluate"
    )
    before = {n: (r.games, r.elo, r.stderr) for n, r in first.ratings.items()}
    again = record_results(
        tmp_path, [("gen-1", "random", 15, 5, "e1"), ("gen-1", "mcts:50", 2, 8, "e1")], 1, "evaluate"
    )
    assert {n: (r.games, r.elo, r.stderr) for n, r in again.ratings.items()} == before
    assert len(load_ladder(tmp_path).results) == 2
    # A changed evaluation of the same generation replaces the old one, even with other
    # players (here the mcts:50 match is gone and a new opponent came).
    changed = record_results(
        tmp_path, [("gen-1", "random", 12, 8, "e1"), ("gen-1", "gen-0", 6, 4, "e1")], 1, "evaluate"
    )
    assert {(r.b, r.a_wins) for r in changed.results} == {("random", 12), ("gen-0", 6)}
    # Another generation, or another stage, adds its own records.
    record_results(tmp_path, [("gen-2", "random", 18, 2, "e2")], 2, "evaluate")
    record_results(tmp_path, [("gen-2", "random", 9, 1, "m")], None, "match:m.json")
    ladder = load_ladder(tmp_path)
    assert len(ladder.results) == 4 and ladder.ratings["gen-2"].games == 30
    data = json.loads(ladder_path(tmp_path).read_text())
    assert data["version"] == 2 and {r["stage"] for r in data["results"]} == {"evaluate", "match:m.json"}
    # Without a stage (a caller that asks for plain appends) results accumulate.
    record_results(tmp_path, [("x", "y", 1, 0, "")])
    record_results(tmp_path, [("x", "y", 1, 0, "")])
    assert load_ladder(tmp_path).ratings["x"].games == 2


def test_same_pair_twice_in_one_evaluation_keeps_the_last(tmp_path: Path) -> None:
    ladder = record_results(tmp_path, [("a", "b", 3, 1, ""), ("b", "a", 2, 2, "")], 1, "evaluate")
    assert [(r.a, r.b, r.a_wins) for r in ladder.results] == [("b", "a", 2)]


def test_version_1_ladder_still_loads(tmp_path: Path) -> None:
    path = ladder_path(tmp_path)
    path.parent.mkdir(parents=True)
    old = {"version": 1, "anchor": "random", "prior_games": 1.0}
    old["results"] = [{"a": "gen-1", "b": "random", "a_wins": 3, "b_wins": 1, "source": "s", "time": 1.0}]
    path.write_text(json.dumps(old))
    ladder = record_results(tmp_path, [("gen-2", "random", 3, 1, "")], 2, "evaluate")
    assert [(r.a, r.generation, r.stage) for r in ladder.results] == [
        ("gen-1", None, ""),
        ("gen-2", 2, "evaluate"),
    ]
    path.write_text(json.dumps({"version": 7}))
    with pytest.raises(LadderError, match="not an Elo ladder"):
        load_ladder(tmp_path)
