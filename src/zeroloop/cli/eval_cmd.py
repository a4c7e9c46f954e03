"""`zeroloop evaluate`, `zeroloop gtp`, `zeroloop play`: matches, a GTP engine, a game for people."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, err_console, load_config_or_exit
from zeroloop.config import ZeroloopConfig

ModelOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="Model file; omit (or --random) for random weights.")
]
RandomOption = Annotated[
    bool, typer.Option("--random", help="Use a random-weights network (for testing the plumbing).")
]
SimsOption = Annotated[
    int | None,
    typer.Option("--sims", "-s", min=1, help="Simulations per move (default: eval.num_simulations)."),
]
BoardSizeOption = Annotated[
    int | None,
    typer.Option(
        "--board-size", "-n", min=2, max=19, help="Board size (default: the model's, else config's)."
    ),
]
SwapOption = Annotated[
    bool | None, typer.Option("--swap/--no-swap", help="Swap rule (default: the model's, else config's).")
]


def _model_spec(model: Path | None, random: bool, sims: int | None) -> str:
    if model is not None and random:
        typer.echo("error: give --model or --random, not both", err=True)
        raise typer.Exit(2)
    if model is not None and not model.exists():
        typer.echo(f"error: {model}: no such model file", err=True)
        raise typer.Exit(2)
    body = "random" if model is None else str(model)
    return f"model:{body}" + (f"@{sims}" if sims else "")


def _game_for(config: ZeroloopConfig, model: Path | None, board_size: int | None, swap: bool | None) -> Any:
    """The game to play: explicit options, then the model file's game, then the config's."""
    from zeroloop.config.game import GameConfig

    game = config.game
    if model is not None:
        from zeroloop.model.file import ModelFileError, read_model_header

        try:
            game = read_model_header(model)[0].game
        except ModelFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    return GameConfig(board_size=board_size or game.board_size, swap=game.swap if swap is None else swap)


def _compilation_cache(config: ZeroloopConfig) -> None:
    """Reuse compiled searches across runs (the self-play setting): `gtp` answers its first
    genmove in seconds instead of the half minute a fresh compilation takes on a CPU."""
    from zeroloop.workers.selfplay_actor import compilation_cache_path, enable_compilation_cache

    enable_compilation_cache(compilation_cache_path(config.selfplay.compilation_cache_dir))


def _agent_factory(config: ZeroloopConfig, spec: str, seed: int = 0) -> Any:
    from zeroloop.evaluation.agents import build_agent

    _compilation_cache(config)

    def factory(game: Any) -> Any:
        return build_agent(spec, game, config.mcts, config.eval, config.model, seed=seed, batch_size=1)

    return factory


def evaluate(
    candidate: Annotated[
        str,
        typer.Option(
            "--candidate", "--model-a", help="Model file, or a spec: random, mcts:SIMS, model:PATH@SIMS."
        ),
    ],
    opponent: Annotated[
        str | None,
        typer.Option(
            "--opponent",
            "--model-b",
            help="Model file or spec (default: the run's best model with --run-dir, else random).",
        ),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    num_games: Annotated[
        int | None, typer.Option("--num-games", "--games", "-g", min=1, help="Games.")
    ] = None,
    sims: SimsOption = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", "-r", help="Record results on this run's Elo ladder.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Eval JSON (default under --run-dir/eval).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=0, help="Ray arena workers (0 = here).")
    ] = None,
    references: Annotated[
        list[str] | None,
        typer.Option("--reference", help="Also play this reference opponent for the ladder (repeatable)."),
    ] = None,
) -> None:
    """Play a match: candidate vs opponent, colours alternated; print win rate and Elo.

    Example: zeroloop evaluate --candidate runs/quick/models/gen-0003.zlm --opponent mcts:200 -g 40
    """
    overrides = list(set_ or [])
    if sims:
        overrides.append(f"eval.num_simulations={sims}")
    if workers is not None:
        overrides.append(f"eval.num_workers={workers}")
    cfg = load_config_or_exit(config, overrides)
    _compilation_cache(cfg)
    if references and run_dir is None:
        typer.echo("error: --reference records on a ladder: give --run-dir too", err=True)
        raise typer.Exit(2)
    from zeroloop.evaluation.agents import AgentSpecError
    from zeroloop.evaluation.arena import run_evaluation
    from zeroloop.evaluation.ladder import ladder_table, load_ladder

    if opponent is None and run_dir is not None:
        from zeroloop.rundir import RunDir

        best = RunDir.at(run_dir).best_model()
        opponent = str(best) if best else None
    opponent = opponent or "random"
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = (run_dir / "eval" if run_dir else Path(".")) / f"match-{stamp}.json"
    try:
        summary = run_evaluation(
            cfg,
            candidate,
            opponent,
            out,
            num_games=num_games,
            run_dir=run_dir,
            references=references or None,
            progress=_progress_printer(),
        )
    except AgentSpecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    err_console.print()
    console.print(_summary_table(summary.to_dict()))
    console.print(summary.reason)
    replays = summary.replays + sum(m["replays"] for m in summary.references)
    if replays:
        console.print(f"{replays} game(s) replayed an earlier game and were not counted again")
    console.print(f"wrote {out}")
    if run_dir is not None:
        console.print(ladder_table(load_ladder(run_dir)))


def _progress_printer() -> Any:
    def progress(done: int, total: int) -> None:
        err_console.print(f"\rgames {done}/{total}", end="")

    return progress


def _elo_text(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:+.0f}"


def _summary_table(d: dict[str, Any]) -> Table:
    table = Table(title=f"{d['candidate']} vs {d['opponent']}")
    for col in (
        "match",
        "games",
        "wins",
        "win rate",
        f"{d['confidence']:.0%} interval",
        "Elo",
        "Elo interval",
    ):
        table.add_column(col, justify="right")
    rows = [{"a": d["candidate"], "b": d["opponent"], **d}] if d["games"] else []
    for m in rows + d.get("references", []):
        elo = _elo_text(m["elo"], "+inf" if m["win_rate"] >= 0.5 else "-inf")
        table.add_row(
            f"vs {m['b']}",
            str(m["games"]),
            str(m["wins"]),
            f"{m['win_rate']:.3f}",
            f"{m['win_rate_low']:.3f}–{m['win_rate_high']:.3f}",
            elo,
            f"{_elo_text(m['elo_low'], '-inf')} … {_elo_text(m['elo_high'], '+inf')}",
        )
    return table


def gtp(
    model: ModelOption = None,
    random: RandomOption = False,
    sims: SimsOption = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    board_size: BoardSizeOption = None,
    swap: SwapOption = None,
) -> None:
    """Speak GTP on stdin/stdout (for HexGUI and other Hex tools).

    Commands: boardsize, clear_board, play (either colour), genmove, undo, showboard,
    name, version, protocol_version, known_command, list_commands, final_score,
    time_left, param_game, set_swap, hexgui-analyze_commands, quit. Colours b/black
    (top-bottom) and w/white (left-right); cells like c3; swap-pieces as HexGUI plays it.

    Example: zeroloop gtp --model runs/quick/models/gen-0005.zlm --sims 200
    """
    import zeroloop
    from zeroloop.evaluation.gtp import GtpEngine

    cfg = load_config_or_exit(config, set_)
    spec = _model_spec(model, random, sims)
    game = _game_for(cfg, model, board_size, swap)
    engine = GtpEngine(
        _agent_factory(cfg, spec),
        board_size=game.board_size,
        swap=game.swap,
        name="zeroloop",
        version=getattr(zeroloop, "__version__", "0.1.0"),
    )
    engine.run(sys.stdin, sys.stdout)


def play(
    model: ModelOption = None,
    random: RandomOption = False,
    color: Annotated[str, typer.Option("--color", help="Your colour: b (black, moves first) or w.")] = "b",
    sims: SimsOption = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    board_size: BoardSizeOption = None,
    swap: SwapOption = None,
) -> None:
    """Play a game against the model in the terminal; enter cells like c3.

    Black (X) connects top and bottom, white (O) left and right.

    Example: zeroloop play --model runs/quick/models/gen-0005.zlm --color w --sims 100
    """
    from zeroloop.cli.trmph_cmd import render_board
    from zeroloop.evaluation.play import play_session

    colours = {"b": 0, "black": 0, "w": 1, "white": 1}
    if color.lower() not in colours:
        typer.echo(f"error: --color must be b or w, got {color!r}", err=True)
        raise typer.Exit(2)
    cfg = load_config_or_exit(config, set_)
    spec = _model_spec(model, random, sims)
    game = _game_for(cfg, model, board_size, swap)
    agent = _agent_factory(cfg, spec)(game)

    def read_line(prompt: str) -> str:
        console.print(prompt, end="")
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if not sys.stdin.isatty():
            console.print(line.strip())  # a scripted session reads like a typed one
        return line

    play_session(agent, game, colours[color.lower()], read_line, console.print, render_board)
