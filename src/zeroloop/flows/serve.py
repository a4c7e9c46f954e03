"""Serve `rl-loop/default` and `sl-train/default` as Prefect deployments."""

from __future__ import annotations

from pathlib import Path

from prefect import serve

from zeroloop.flows.rl_loop import rl_loop, sl_train


def serve_deployments(
    config_path: str, run_dir: str, sl_config_path: str, sl_run_dir: str, limit: int | None = None
) -> None:
    """Block, running flow runs triggered by `prefect deployment run 'rl-loop/default'`.

    Default parameters are absolute paths, because flow runs start in their own
    process and should not depend on the directory they start in.
    """
    rl = rl_loop.to_deployment(
        name="default",
        parameters={"config_path": str(Path(config_path).resolve()), "run_dir": str(Path(run_dir).resolve())},
        description="AlphaZero loop: self-play -> preprocess -> shuffle -> train -> evaluate.",
        tags=["zeroloop"],
    )
    sl = sl_train.to_deployment(
        name="default",
        parameters={
            "config_path": str(Path(sl_config_path).resolve()),
            "run_dir": str(Path(sl_run_dir).resolve()),
        },
        description="Supervised training from TRMPH files (self-play disabled).",
        tags=["zeroloop"],
    )
    serve(rl, sl, limit=limit)
