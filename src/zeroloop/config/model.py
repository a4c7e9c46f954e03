"""Model section: the policy/value network shared by self-play and the trainer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zeroloop.config.base import Section

AuxHead = Literal["ownership", "winning_group"]


class ModelConfig(Section):
    """Residual tower; one config serves any board size (the net is fully convolutional)."""

    blocks: int = Field(4, ge=0, le=64, description="Residual blocks in the tower.")
    channels: int = Field(32, ge=4, le=1024, description="Channels in every block.")
    global_pool_every: int = Field(
        0,
        ge=0,
        description="Every k-th residual block is a KataGo-style global-pooling block "
        "(pooled features bias the rest of the block); 0 = none.",
    )
    global_pool_channels: int = Field(
        8, ge=1, description="Channels a global-pooling block pools (mean, max, size-scaled mean)."
    )
    policy_channels: int = Field(16, ge=1, description="Channels of the policy head's 1x1 convolution.")
    value_channels: int = Field(4, ge=1, description="Channels of the value head's 1x1 convolution.")
    value_head: Literal["tanh", "wdl"] = Field(
        "tanh", description="'tanh': scalar in [-1, 1]; 'wdl': win/loss logits (Hex has no draws)."
    )
    value_hidden: int = Field(64, ge=1, description="Hidden units of the value head.")
    aux_heads: tuple[AuxHead, ...] = Field(
        (),
        description="Auxiliary (self-supervised) heads: 'ownership' = final owner of each cell "
        "(mover / empty / opponent), 'winning_group' = cells of the winner's connecting group.",
    )
    edge_input: bool = Field(
        False,
        description="Mark the board's edges in the input: the net pads the board by one cell of "
        "the edges' owners' stones (the mover's above and below, the opponent's left and right) "
        "and adds an on-board plane, so the first convolution no longer sees the edge as empty "
        "cells. An architecture key: it changes the first layer's shape, so a model file or "
        "checkpoint of a net without it does not load into one with it (the error names the key).",
    )
    norm: Literal["batch", "renorm"] = Field(
        "batch", description="'batch': batch norm; 'renorm': batch renormalisation (Ioffe 2017)."
    )
    norm_momentum: float = Field(
        0.99, gt=0, lt=1, description="Momentum of the running mean/variance used at inference."
    )
    renorm_momentum: float = Field(
        0.99, gt=0, lt=1, description="Momentum of the renorm statistics that r and d are computed from."
    )
    renorm_max_r: float = Field(3.0, ge=1, description="Renorm clip: r in [1/max_r, max_r].")
    renorm_max_d: float = Field(5.0, ge=0, description="Renorm clip: d in [-max_d, max_d].")
    virtual_batch_size: int | None = Field(
        None,
        ge=1,
        description="Ghost batch norm: statistics over sub-batches of this size (must divide the "
        "batch size); None = the whole batch.",
    )
    dropout_rate: float = Field(
        0.0, ge=0, lt=1, description="Dropout inside residual blocks and the value head; 0 = off."
    )


# Keys that change the parameter tree (which weights and batch statistics exist, and
# their shapes): a checkpoint, a model file or a run directory made under other values
# cannot be loaded as is. `norm` is one: "renorm" adds the renorm_mean/renorm_std
# statistics to every normalisation layer.
ARCHITECTURE_KEYS: tuple[str, ...] = (
    "blocks",
    "channels",
    "global_pool_every",
    "global_pool_channels",
    "policy_channels",
    "value_channels",
    "value_head",
    "value_hidden",
    "aux_heads",
    "norm",
    "edge_input",
)
# Keys that only change how the same weights are trained (dropout, normalisation
# momenta and clips, ghost batches): they may change between a checkpoint and its
# resumption, or between a model file and the run it initialises.
TRAINING_KEYS: tuple[str, ...] = (
    "norm_momentum",
    "renorm_momentum",
    "renorm_max_r",
    "renorm_max_d",
    "virtual_batch_size",
    "dropout_rate",
)


def architecture(model: ModelConfig | dict[str, object]) -> dict[str, object]:
    """The architecture keys of a model config (or of its JSON dump), as JSON values."""
    dumped = model.model_dump(mode="json") if isinstance(model, ModelConfig) else dict(model)
    defaults = ModelConfig().model_dump(mode="json")
    return {k: dumped.get(k, defaults[k]) for k in ARCHITECTURE_KEYS}


def architecture_differences(
    old: ModelConfig | dict[str, object], new: ModelConfig | dict[str, object]
) -> list[tuple[str, object, object]]:
    """(key, old, new) for each architecture key that differs; training-only keys are ignored."""
    a, b = architecture(old), architecture(new)
    return [(k, a[k], b[k]) for k in ARCHITECTURE_KEYS if a[k] != b[k]]
