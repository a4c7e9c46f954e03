"""What the dashboard shows of a run, read from its run directory, as markdown.

Two documents (published as Prefect markdown artifacts by `tasks.artifacts`):

- the generation note: one row per stage with formatted numbers and units, and a
  picture of one sample self-play game (SVG board, moves numbered);
- the run dashboard: charts of strength (Elo with its interval, win rate against the
  best model and each reference opponent), of training losses (per logged step,
  all generations) and of self-play (game length, first-player win rate,
  resignations when the summaries have them), then one table row per generation.

Everything comes from files the stages wrote (manifest, eval/, metrics.jsonl, game
chunks), so a rerun or another machine draws the same pictures. No Prefect here.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from zeroloop.evaluation.ladder import LadderError, load_ladder
from zeroloop.games.svg import board_svg
from zeroloop.rundir import RunDir, gen_name
from zeroloop.tasks.charts import Panel, Series, chart_png, data_uri, png_data_uri

log = logging.getLogger("zeroloop.dashboard")

COLOURS = ("black", "white")


# ---- number formatting ------------------------------------------------------------------


def fmt_count(v: Any) -> str:
    return f"{int(v):,}" if isinstance(v, int | float) else "–"


def fmt_pct(v: Any, low: Any = None, high: Any = None) -> str:
    """0.5623 -> '56.2 %'; with an interval '56.2 % (41–70)'."""
    if not isinstance(v, int | float) or not math.isfinite(v):
        return "–"
    text = f"{100 * v:.1f} %"
    if isinstance(low, int | float) and isinstance(high, int | float):
        text += f" ({100 * low:.0f}–{100 * high:.0f})"
    return text


def fmt_seconds(v: Any) -> str:
    if not isinstance(v, int | float):
        return "–"
    if v < 60:
        return f"{v:.1f} s"
    minutes, seconds = divmod(int(round(v)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def fmt_num(v: Any, digits: int = 3) -> str:
    if not isinstance(v, int | float) or not math.isfinite(v):
        return "–"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"


def fmt_elo(elo: Any, stderr: Any = None) -> str:
    if not isinstance(elo, int | float):
        return "–"
    return f"{elo:+.0f}" + (f" ± {1.96 * stderr:.0f}" if isinstance(stderr, int | float) else "")


# ---- reading the run --------------------------------------------------------------------


def stage_summaries(rd: RunDir) -> dict[int, dict[str, dict[str, Any]]]:
    """generation -> stage -> the summary the stage recorded in the manifest."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for name, stages in rd.read_manifest().get("generations", {}).items():
        try:
            g = int(name.split("-")[-1])
        except ValueError:
            continue
        out[g] = {s: dict(v.get("summary") or {}) for s, v in stages.items() if isinstance(v, dict)}
    return dict(sorted(out.items()))


def ladder_ratings(rd: RunDir) -> dict[str, tuple[float | None, float | None]]:
    """player name -> (Elo, standard error) from the run's ladder; {} when there is none."""
    try:
        ladder = load_ladder(rd.root)
    except (LadderError, OSError, ValueError) as exc:
        log.warning("dashboard: cannot read the Elo ladder: %s", exc)
        return {}
    return {name: (r.elo, r.stderr) for name, r in ladder.ratings.items()}


def _candidate_rating(
    ratings: dict[str, tuple[float | None, float | None]], rd: RunDir, g: int, evaluate: dict[str, Any]
) -> tuple[float | None, float | None]:
    """The ladder entry of generation g's model (named as the arena named the candidate)."""
    for name in (evaluate.get("candidate"), str(rd.model_path(g)), gen_name(g), rd.model_path(g).stem):
        if name and name in ratings:
            return ratings[name]
    return None, None


def training_curve(rd: RunDir, generations: Sequence[int]) -> dict[str, dict[str, list]]:
    """Logged losses over the global step, from every generation's metrics.jsonl.

    Returns {"train": {"step": [...], "loss": [...], "policy_loss": [...],
    "value_loss": [...]}, "val": {...}}, steps in the order logged.
    """
    curves: dict[str, dict[str, list]] = {}
    for g in generations:
        path = rd.checkpoint_dir(g) / "metrics.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            curve = curves.setdefault(str(row.get("split", "train")), {"step": []})
            curve["step"].append(int(row.get("step", 0)))
            for k in ("loss", "policy_loss", "value_loss"):
                curve.setdefault(k, []).append(row.get(k))
    return curves


def sample_game(rd: RunDir, g: int) -> tuple[str, str] | None:
    """(SVG, caption) of the first game of generation g's first chunk, or None."""
    from zeroloop.data.chunks import ChunkError, read_game_chunk

    chunks = sorted(rd.selfplay_dir(g).glob("*.arrow"))
    if not chunks:
        return None
    try:
        games = read_game_chunk(chunks[0])
    except (ChunkError, OSError) as exc:
        log.warning("dashboard: cannot read %s: %s", chunks[0], exc)
        return None
    if not games:
        return None
    game = games[0]
    result = f"{COLOURS[game.winner]} wins in {len(game.moves)} moves"
    caption = f"generation {g}, {chunks[0].name} game 1: {result}"
    return board_svg(game.board_size, [int(m) for m in game.moves], caption=result), caption


# ---- documents --------------------------------------------------------------------------


def stage_rows(stages: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(stage, what it did, time) per stage that ran, numbers with units."""
    rows = []
    if s := stages.get("selfplay"):
        what = (
            f"{fmt_count(s.get('new_games'))} new games ({fmt_count(s.get('games'))} in all), "
            f"{fmt_count(s.get('new_positions'))} positions, mean length "
            f"{fmt_num(s.get('mean_game_length'))} plies, "
            f"black wins {fmt_pct(s.get('first_player_win_rate'))}, "
            f"{fmt_num(s.get('positions_per_second'))} positions/s"
        )
        if isinstance(s.get("resign_rate"), int | float):
            what += f", resigned {fmt_pct(s.get('resign_rate'))}"
        rows.append(("self-play", what, fmt_seconds(s.get("stage_seconds"))))
    if s := stages.get("preprocess"):
        what = (
            f"{fmt_count(s.get('games_in'))} games in, {fmt_count(s.get('games_out'))} kept "
            f"({fmt_count(s.get('duplicates'))} duplicates, {fmt_count(s.get('bad_games'))} bad); "
            f"{fmt_count(s.get('positions_train'))} training and {fmt_count(s.get('positions_test'))} "
            "held-out positions"
        )
        rows.append(("preprocess", what, fmt_seconds(s.get("stage_seconds"))))
    if s := stages.get("shuffle"):
        what = (
            f"{fmt_count(s.get('positions_out'))} positions through {fmt_count(s.get('buckets'))} buckets "
            f"into {fmt_count(s.get('shards'))} shards"
        )
        rows.append(("shuffle", what, fmt_seconds(s.get("stage_seconds"))))
    if s := stages.get("train"):
        tm, vm = s.get("train_metrics") or {}, s.get("val_metrics") or {}
        what = (
            f"steps {fmt_count(s.get('start_step'))} → {fmt_count(s.get('final_step'))}, "
            f"loss {fmt_num(tm.get('loss'))} (policy {fmt_num(tm.get('policy_loss'))}, "
            f"value {fmt_num(tm.get('value_loss'))})"
        )
        if vm:
            what += f", validation loss {fmt_num(vm.get('loss'))}"
        what += f", {fmt_count(s.get('samples_per_s'))} samples/s"
        rows.append(("train", what, fmt_seconds(s.get("stage_seconds"))))
    if s := stages.get("evaluate"):
        what = (
            f"vs best: {fmt_count(s.get('wins'))}/{fmt_count(s.get('games'))} wins, "
            f"{fmt_pct(s.get('win_rate'), s.get('win_rate_low'), s.get('win_rate_high'))}"
        )
        for ref in s.get("references") or []:
            what += (
                f"; vs {ref.get('b')}: "
                f"{fmt_pct(ref.get('win_rate'), ref.get('win_rate_low'), ref.get('win_rate_high'))}"
            )
        rows.append(("evaluate", what, fmt_seconds(s.get("stage_seconds"))))
    if s := stages.get("promote"):
        verdict = "promoted" if s.get("promoted") else "kept the previous best"
        rows.append(("promote", f"{verdict}: {s.get('reason', '')}", ""))
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return out + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def generation_markdown(rd: RunDir, run_name: str, g: int) -> str:
    """The note of generation g: its stages as a table and a sample game."""
    stages = stage_summaries(rd).get(g, {})
    lines = [f"# {run_name}: generation {g}", "", f"Run directory: `{rd.root}`", ""]
    rows = stage_rows(stages)
    # Time before the long result text, so the table's width never pushes it out of view.
    rows = [(stage, time, what) for stage, what, time in rows]
    lines += _table(("stage", "time", "result"), rows) if rows else ["No stage ran in this generation."]
    lines += ["", f"Best model: generation {rd.best_generation()}", ""]
    game = sample_game(rd, g)
    if game:
        svg, caption = game
        image = f"![{caption}]({data_uri(svg, 'image/svg+xml')})"
        lines += ["## A self-play game", "", image, "", caption, ""]
    return "\n".join(lines)


def dashboard_markdown(rd: RunDir, run_name: str) -> str:
    """The run's charts over all generations so far, and one table row per generation."""
    summaries = stage_summaries(rd)
    gens = [g for g in summaries if g > 0]
    charts = [
        ("Strength", strength_panels(rd, summaries)),
        ("Training", training_panels(rd, summaries)),
        ("Self-play", selfplay_panels(summaries)),
    ]
    lines = [f"# {run_name}: dashboard", "", f"Run directory: `{rd.root}`; best model: generation "
             f"{rd.best_generation()}; {len(gens)} generation(s).", ""]  # fmt: skip
    for title, panels in charts:
        try:
            png = chart_png(panels)
        except (ValueError, RuntimeError) as exc:  # a bad value must not fail the flow
            log.warning("dashboard: %s chart failed: %s", title, exc)
            continue
        lines += [f"## {title}", "", f"![{title} chart]({png_data_uri(png)})", ""]
    lines += ["## Generations", ""]
    lines += _table(
        ("gen", "games", "length", "black wins", "loss", "val loss", "vs best", "Elo", "best?", "time"),
        generation_rows(rd, summaries),
    )
    return "\n".join(lines) + "\n"


def generation_rows(rd: RunDir, summaries: dict[int, dict[str, dict[str, Any]]]) -> list[list[str]]:
    ratings = ladder_ratings(rd)
    rows = []
    for g, st in summaries.items():
        if g == 0:
            continue
        sp, tr, ev = st.get("selfplay", {}), st.get("train", {}), st.get("evaluate", {})
        elo, err = _candidate_rating(ratings, rd, g, ev)
        seconds = sum(float(s.get("stage_seconds", 0.0)) for s in st.values())
        rows.append([
            str(g),
            fmt_count(sp.get("new_games")) if sp else "–",
            f"{fmt_num(sp.get('mean_game_length'))} plies" if sp else "–",
            fmt_pct(sp.get("first_player_win_rate")) if sp else "–",
            fmt_num((tr.get("train_metrics") or {}).get("loss")),
            fmt_num((tr.get("val_metrics") or {}).get("loss")),
            fmt_pct(ev.get("win_rate"), ev.get("win_rate_low"), ev.get("win_rate_high")) if ev else "–",
            fmt_elo(elo, err),
            ("yes" if st["promote"].get("promoted") else "no") if "promote" in st else "–",
            fmt_seconds(seconds),
        ])  # fmt: skip
    return rows


# ---- chart panels -----------------------------------------------------------------------


def strength_panels(rd: RunDir, summaries: dict[int, dict[str, dict[str, Any]]]) -> list[Panel]:
    """Elo (95 % band from the ladder's standard error) and win rates with their intervals."""
    ratings = ladder_ratings(rd)
    gens, elo, low, high = [], [], [], []
    rates: dict[str, tuple[list, list, list, list]] = {}
    for g, st in summaries.items():
        ev = st.get("evaluate")
        if not ev:
            continue
        e, s = _candidate_rating(ratings, rd, g, ev)
        gens.append(g)
        elo.append(e)
        low.append(e - 1.96 * s if e is not None and s is not None else None)
        high.append(e + 1.96 * s if e is not None and s is not None else None)
        matches = [{"b": "previous best", **ev}] + list(ev.get("references") or [])
        for m in matches:
            if not m.get("games"):
                continue
            x, y, lo, hi = rates.setdefault(str(m.get("b")), ([], [], [], []))
            x.append(g)
            y.append(m.get("win_rate"))
            lo.append(m.get("win_rate_low"))
            hi.append(m.get("win_rate_high"))
    return [
        Panel("Elo (ladder, 95 % interval)", "Elo", [Series("candidate", gens, elo, low, high)]),
        Panel(
            "Win rate of each generation's model",
            "win rate",
            [Series(f"vs {name}", *v) for name, v in rates.items()],
            ylim=(-0.02, 1.04),
            percent=True,
        ),
    ]


def training_panels(rd: RunDir, summaries: dict[int, dict[str, dict[str, Any]]]) -> list[Panel]:
    curves = training_curve(rd, [g for g in summaries if g > 0])
    # Where each later generation's training started (its first step), as dotted lines.
    starts = [(st.get("train") or {}).get("start_step") for st in summaries.values()]
    bounds = sorted({int(x) for x in starts if isinstance(x, int) and x > 0})
    train, val = curves.get("train", {"step": []}), curves.get("val", {"step": []})
    series = [
        Series(name, train["step"], train.get(key, []))
        for name, key in (("loss", "loss"), ("policy", "policy_loss"), ("value", "value_loss"))
        if train.get(key)
    ]
    if val.get("loss"):
        series.append(Series("validation loss", val["step"], val["loss"], linestyle=":"))
    title = "Training losses (dotted: generation starts)"
    return [Panel(title, "loss", series, xlabel="step", vlines=bounds)]


def selfplay_panels(summaries: dict[int, dict[str, dict[str, Any]]]) -> list[Panel]:
    gens, length, first, resign, false_resign = [], [], [], [], []
    for g, st in summaries.items():
        sp = st.get("selfplay")
        if not sp:
            continue
        gens.append(g)
        length.append(sp.get("mean_game_length"))
        first.append(sp.get("first_player_win_rate"))
        resign.append(sp.get("resign_rate"))
        false_resign.append(sp.get("false_resign_rate") if sp.get("resign_rate") is not None else None)
    rates = [Series("first player (black) wins", gens, first)]
    if any(isinstance(r, int | float) for r in resign):
        rates.append(Series("games resigned", gens, resign))
        rates.append(Series("false resignations (resign-free games)", gens, false_resign))
    return [
        Panel("Mean game length", "plies", [Series("self-play games", gens, length)]),
        Panel("Self-play outcomes", "share of games", rates, ylim=(-0.02, 1.04), percent=True),
    ]
