"""Export a trained state as a model file for self-play, evaluation and GTP.

The model file (zeroloop.model.file) holds the weights chosen by
`train.export_weights` (raw | ema | swa), the model config, the game config and
metadata: generation, global step, which weights, and the data it was trained on
(KataGo's habit: a model says where it came from).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zeroloop.config.game import GameConfig
from zeroloop.model.file import save_model_file
from zeroloop.trainer.engine import TrainEngine
from zeroloop.trainer.state import TrainState, select_weights


def export_model(
    path: str | os.PathLike[str],
    engine: TrainEngine,
    state: TrainState,
    game: GameConfig,
    which: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write `state`'s `which` weights (default: the config's export_weights) to `path` atomically.

    metadata: extra keys (e.g. generation, trained_on); `step`, `weights` and
    `start_step` are always added.
    """
    which = which or engine.train_cfg.export_weights
    weights, used = select_weights(state, which)
    model = engine.model_from_weights(weights)
    meta = dict(metadata or {})
    meta.update({"step": int(state.step), "start_step": engine.start_step, "weights": used})
    return save_model_file(path, model, game, meta)
