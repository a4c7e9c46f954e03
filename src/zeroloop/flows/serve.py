"""Serve `rl-loop/default` and `sl-train/default` as Prefect deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import serve

from zeroloop.config.presets import config_spec_for_another_process
from zeroloop.flows.rl_loop import rl_loop, sl_train


def build_deployments(config_path: str, run_dir: str, sl_config_path: str, sl_run_dir: str) -> list[Any]:
    """The two deployments, not yet registered.

    Default parameters are preset names or absolute paths, because flow runs start in
    their own process and should not depend on the directory they start in.
    """
    rl = rl_loop.to_deployment(
        name="default",
        parameters={
            "config_path": config_spec_for_another_process(config_path),
            "run_dir": str(Path(run_dir).resolve()),
        },
        description="AlphaZero loop: self-play -> preprocess -> shuffle -> train -> evaluate.",
        tags=["zeroloop"],
    )
    sl = sl_train.to_deployment(
        name="default",
        parameters={
            "config_path": config_spec_for_another_process(sl_config_path),
            "run_dir": str(Path(sl_run_dir).resolve()),
        },
        description="Supervised training from TRMPH files (self-play disabled).",
        tags=["zeroloop"],
    )
    return [rl, sl]


def serve_deployments(
    config_path: str, run_dir: str, sl_config_path: str, sl_run_dir: str, limit: int | None = None
) -> None:
    """Block, running flow runs triggered by `prefect deployment run 'rl-loop/default'`."""
    serve(*build_deployments(config_path, run_dir, sl_config_path, sl_run_dir), limit=limit)


def deploy_to_pool(
    work_pool: str, config_path: str, run_dir: str, sl_config_path: str, sl_run_dir: str, name: str = "pool"
) -> list[str]:
    """Register `rl-loop/<name>` and `sl-train/<name>` on a work pool; returns the deployment ids.

    The deployments name the flows by module path (`zeroloop.flows.rl_loop.rl_loop`), so a
    `prefect worker start --pool <work_pool>` on any machine with zeroloop installed runs
    them: no image and no code storage to pull from. Paths are made absolute; on many
    machines they must be on shared storage mounted at the same place.
    """
    from prefect import deploy
    from prefect.deployments.runner import EntrypointType

    common = {
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "work_pool_name": work_pool,
        "tags": ["zeroloop"],
    }
    rl = rl_loop.to_deployment(
        name=name,
        parameters={
            "config_path": config_spec_for_another_process(config_path),
            "run_dir": str(Path(run_dir).resolve()),
        },
        description="AlphaZero loop: self-play -> preprocess -> shuffle -> train -> evaluate.",
        **common,
    )
    sl = sl_train.to_deployment(
        name=name,
        parameters={
            "config_path": config_spec_for_another_process(sl_config_path),
            "run_dir": str(Path(sl_run_dir).resolve()),
        },
        description="Supervised training from TRMPH files (self-play disabled).",
        **common,
    )
    ids = deploy(rl, sl, work_pool_name=work_pool, build=False, push=False, print_next_steps_message=False,
                 ignore_warnings=True)  # fmt: skip
    return [str(i) for i in ids]
