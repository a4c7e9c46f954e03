"""Rich tables for `zeroloop status`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from zeroloop.rundir import STAGES, RunDir


def render_status(run_dir: Path, console: Console) -> None:
    rd = RunDir.at(run_dir)
    manifest = rd.read_manifest().get("generations", {})
    table = Table(title=f"zeroloop run {rd.root}")
    table.add_column("generation")
    for stage in (*STAGES, "promote"):
        table.add_column(stage)
    for name in sorted(manifest):
        stages = manifest[name]
        row = [name]
        for stage in (*STAGES, "promote"):
            row.append(_cell(stage, stages.get(stage)))
        table.add_row(*row)
    console.print(table)
    best = rd.best_generation()
    console.print(f"best model: {'none yet' if best is None else rd.model_path(best)}")
    _render_disk(rd, console)
    _render_ladder(rd, console)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _render_disk(rd: RunDir, console: Console) -> None:
    """Disk use per stage directory, and what retention has removed so far."""
    from zeroloop.retention import disk_usage, read_record

    usage = disk_usage(rd)
    table = Table(title="disk use")
    table.add_column("stage")
    table.add_column("size", justify="right")
    for name, n in usage.items():
        table.add_row(name, _size(n))
    table.add_row("total", _size(sum(usage.values())))
    console.print(table)
    removed = read_record(rd)["removed"]
    if removed:
        freed = sum(int(v.get("bytes", 0)) for v in removed.values())
        console.print(f"retention removed {len(removed)} director(ies), {_size(freed)} freed")


def _cell(stage: str, entry: dict | None) -> str:
    if entry is None:
        return "-"
    s = entry.get("summary", {})
    if stage == "selfplay" and "games" in s:
        return f"done ({s['games']} games)"
    loss = (s.get("val_metrics") or {}).get("loss", (s.get("train_metrics") or {}).get("loss"))
    if stage == "train" and loss is not None:
        return f"done (loss {loss:.3f})"
    if stage == "evaluate" and "win_rate" in s:
        return f"done (win {s['win_rate']:.2f})"
    if stage == "promote":
        return "promoted" if s.get("promoted") else "kept best"
    return "done"


def _render_ladder(rd: RunDir, console: Console) -> None:
    from zeroloop.evaluation.ladder import LadderError, ladder_table, load_ladder

    try:
        ladder = load_ladder(rd.root)
    except LadderError as exc:
        console.print(f"Elo ladder: unreadable ({exc})")
        return
    if not ladder.results:
        console.print("Elo ladder: no evaluations yet")
        return
    console.print(ladder_table(ladder))
