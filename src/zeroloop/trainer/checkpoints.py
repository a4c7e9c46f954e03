"""Training checkpoints: Orbax CheckpointManager over WORK_DIR/checkpoints/<step>/.

Each checkpoint holds three items, written together and committed atomically by
Orbax (a temporary directory renamed into place; a half-written one is ignored):

- `state`:  the whole TrainState (step, weights, optimizer, EMA/SWA, RNG, loss scale);
- `meta`:   JSON: format, step, start/total steps, the model config and a signature
            of the optimizer-state structure, so a mismatched config is refused with
            a message naming each difference instead of an Orbax tree error;
- `loader`: JSON: the data loader's `state_dict()` at that step, so a resumed run
            reads exactly the batches the uninterrupted run would have read;
- `best`:   (only while early stopping keeps them) the best weights so far: params,
            batch_stats and the slow/EMA/SWA weights the run has. The best loss, its
            step and the patience counter are in `meta["early_stop"]`, so a resumed
            run stops, and restores, exactly where the uninterrupted one would.

Only the model's architecture keys (`config.model.ARCHITECTURE_KEYS`) must match on
restore; training-only knobs such as `dropout_rate` may change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from zeroloop.config.model import ModelConfig, architecture, architecture_differences
from zeroloop.config.train import TrainConfig
from zeroloop.trainer.state import TrainState

FORMAT = "zeroloop-checkpoint/1"


class CheckpointMismatchError(ValueError):
    """A checkpoint was made under a config whose model or optimizer structure differs."""


def state_signature(train: TrainConfig) -> dict[str, Any]:
    """The train settings that change the *structure* of the saved state.

    Everything else (learning rate, loss weights, schedule values...) may change
    between a checkpoint and its resumption.
    """
    return {
        "optimizer": train.optimizer,
        "grad_clip": train.grad_clip_norm is not None,
        "weight_decay": train.weight_decay > 0,
        "reduce_on_plateau": train.schedule.plateau_patience > 0,
        "accumulation": train.accum_steps > 1,
        "lookahead": train.lookahead_steps > 0,
        "ema": train.ema_decay is not None,
        "swa": train.swa_every > 0,
    }


def make_meta(
    model: ModelConfig, train: TrainConfig, step: int, start_step: int, total_steps: int
) -> dict[str, Any]:
    """The `meta` item of a checkpoint."""
    return {
        "format": FORMAT,
        "step": step,
        "start_step": start_step,
        "total_steps": total_steps,
        "model": model.model_dump(mode="json"),
        "architecture": architecture(model),
        "state_signature": state_signature(train),
    }


def meta_differences(saved: dict[str, Any], model: ModelConfig, train: TrainConfig) -> list[str]:
    """Human-readable differences between a checkpoint's meta and the current config.

    Training-only model keys (dropout rate, norm momenta...) are not differences: they
    leave the parameter tree as it is.
    """
    out: list[str] = []
    for key, got, want in architecture_differences(saved.get("model", {}), model):
        out.append(f"model.{key}: checkpoint has {got!r}, config has {want!r}")
    want_sig = state_signature(train)
    got_sig = saved.get("state_signature", {})
    for key in sorted(set(want_sig) | set(got_sig)):
        if want_sig.get(key) != got_sig.get(key):
            out.append(
                f"train state '{key}': checkpoint has {got_sig.get(key)!r}, config has {want_sig.get(key)!r}"
            )
    return out


# The TrainState fields early stopping keeps a copy of (those that are not None).
BEST_FIELDS: tuple[str, ...] = ("params", "batch_stats", "slow", "ema", "swa")


def best_template(state: TrainState) -> dict[str, Any]:
    """{field: tree} of the weight fields of `state` that early stopping keeps (None ones left out)."""
    return {k: getattr(state, k) for k in BEST_FIELDS if getattr(state, k) is not None}


class CheckpointStore:
    """Save and restore TrainStates under `directory` (keep the last `keep`)."""

    def __init__(self, directory: str | os.PathLike[str], keep: int = 3, async_save: bool = True) -> None:
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, enable_async_checkpointing=async_save, create=True
            ),
        )

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step (None if there is none)."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(
        self,
        step: int,
        state: TrainState,
        meta: dict[str, Any],
        loader_state: dict[str, Any] | None,
        best: dict[str, Any] | None = None,
    ) -> None:
        """Write checkpoint `step` (in the background when async). Saving a step twice is a no-op.

        best: early stopping's best weights ({field: tree}, see `best_template`) or None.
        """
        if step in self.manager.all_steps():
            return
        # A private host copy: the train step donates the state's device buffers, and a
        # background save must not read buffers the next step is overwriting.
        host = jax.tree.map(lambda x: np.array(x, copy=True), state)
        items: dict[str, Any] = {
            "state": ocp.args.StandardSave(host),
            "meta": ocp.args.JsonSave(meta),
            "loader": ocp.args.JsonSave(loader_state or {}),
        }
        if best is not None:
            items["best"] = ocp.args.StandardSave(jax.tree.map(lambda x: np.array(x, copy=True), best))
        self.manager.save(step, args=ocp.args.Composite(**items), force=True)

    def restore_best(self, step: int, abstract_state: TrainState) -> dict[str, Any] | None:
        """Early stopping's best weights saved with checkpoint `step` (None if it has none)."""
        meta = self.read_meta(step)
        if not (meta.get("early_stop") or {}).get("has_best_weights"):
            return None
        restored = self.manager.restore(
            step, args=ocp.args.Composite(best=ocp.args.StandardRestore(best_template(abstract_state)))
        )
        return dict(restored.best)

    def read_meta(self, step: int) -> dict[str, Any]:
        meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointMismatchError(f"{self.directory / str(step)}: not a zeroloop checkpoint")
        return meta

    def restore(
        self, step: int, abstract_state: TrainState, model: ModelConfig, train: TrainConfig
    ) -> tuple[TrainState, dict[str, Any], dict[str, Any]]:
        """(state, meta, loader_state) of checkpoint `step`, refusing a config that does not fit."""
        meta = self.read_meta(step)
        diffs = meta_differences(meta, model, train)
        if diffs:
            raise CheckpointMismatchError(
                f"{self.directory / str(step)} does not match the config:\n  "
                + "\n  ".join(diffs)
                + "\nUse the config it was made with, a new work dir, or `zeroloop migrate`."
            )
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state),
                    loader=ocp.args.JsonRestore(),
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointMismatchError(
                f"{self.directory / str(step)}: state does not fit the config: {exc}"
            ) from None
        return restored.state, meta, dict(restored.loader or {})

    def restore_raw(self, step: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(state as nested dicts, meta, loader_state) without a target (for migration)."""
        meta = self.read_meta(step)
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(), loader=ocp.args.JsonRestore()),
        )
        return restored.state, meta, dict(restored.loader or {})

    def wait(self) -> None:
        """Block until background saves are committed."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
