"""Train section: losses, optimisation, schedules, checkpoints and the training loop.

Every option is documented in docs/trainer.md with its formula where it has one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zeroloop.config.base import Section


class LossConfig(Section):
    """Loss components and their weights (formulas in docs/trainer.md)."""

    policy: Literal["ce", "kl"] = Field(
        "ce", description="'ce': cross-entropy; 'kl': KL(target || policy) = ce - target entropy."
    )
    policy_temperature: float = Field(
        1.0, gt=0, description="Target temperature T: the target becomes p^(1/T), renormalised."
    )
    policy_weight: float = Field(1.0, ge=0, description="Weight of the policy loss.")
    value: Literal["mse", "huber", "ce"] = Field(
        "mse", description="'mse', 'huber' (with huber_delta), or 'ce' (needs model.value_head=wdl)."
    )
    value_weight: float = Field(1.0, ge=0, description="Weight of the value loss.")
    huber_delta: float = Field(1.0, gt=0, description="Huber loss threshold.")
    value_label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Value target is scaled by (1 - s) before the loss (seed 004)."
    )
    l2: float = Field(
        0.0, ge=0, description="L2 in the loss: l2 * sum(w^2) over kernels (biases and norms skipped)."
    )
    aux_weight: float = Field(1.0, ge=0, description="Overall weight of the auxiliary heads' losses.")
    aux_warmup_steps: int = Field(
        0, ge=0, description="The auxiliary weight ramps linearly from 0 over this many steps."
    )
    ownership_weight: float = Field(1.0, ge=0, description="Weight of the ownership head's loss.")
    winning_group_weight: float = Field(1.0, ge=0, description="Weight of the winning-group head's loss.")


class LrStage(Section):
    """One stage of a piecewise schedule, anchored at a global step."""

    starting_step: int = Field(ge=0, description="Global step where the stage begins.")
    lr: float = Field(ge=0, description="Learning rate the stage holds after its warmup.")
    warmup_steps: int = Field(
        0, ge=0, description="Linear ramp from the previous stage's lr (0 for the first) to lr."
    )


class ScheduleConfig(Section):
    """Learning-rate schedule; train.learning_rate is the peak for 'constant' and 'cosine'."""

    kind: Literal["constant", "cosine", "piecewise"] = Field(
        "constant", description="'constant' or 'cosine' (after warmup), or 'piecewise' stages."
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warmup from 0 (constant and cosine).")
    warmup_fraction: float | None = Field(
        None, ge=0, lt=1, description="Warmup as a fraction of the run's steps; overrides warmup_steps."
    )
    final_lr_fraction: float = Field(
        0.0, ge=0, le=1, description="Cosine ends at learning_rate * final_lr_fraction."
    )
    stages: tuple[LrStage, ...] = Field(
        (), description="Piecewise stages, by increasing starting_step (kind=piecewise)."
    )
    plateau_patience: int = Field(
        0, ge=0, description="Reduce-on-plateau: windows without improvement before a cut; 0 = off."
    )
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="Reduce-on-plateau: lr multiplier per cut.")
    plateau_window: int = Field(
        50, ge=1, description="Reduce-on-plateau: training steps averaged into one loss value."
    )
    plateau_cooldown: int = Field(0, ge=0, description="Reduce-on-plateau: windows to wait after a cut.")
    plateau_min_scale: float = Field(
        0.01, ge=0, le=1, description="Reduce-on-plateau: the lr is never cut below this fraction."
    )

    @model_validator(mode="after")
    def _check_stages(self) -> ScheduleConfig:
        if self.kind == "piecewise":
            if not self.stages:
                raise ValueError("schedule.kind=piecewise needs at least one entry in schedule.stages")
            starts = [s.starting_step for s in self.stages]
            if starts != sorted(set(starts)):
                raise ValueError(f"schedule.stages must have increasing starting_step, got {starts}")
        return self


class CheckpointConfig(Section):
    every: int = Field(500, ge=0, description="Save a checkpoint every N steps (0 = only at the end).")
    keep: int = Field(3, ge=1, description="Keep the last K checkpoints.")
    auto_resume: bool = Field(
        True, description="Resume from the latest checkpoint in the work dir if there is one."
    )
    async_save: bool = Field(True, description="Write checkpoints in a background thread.")


class ValidationConfig(Section):
    every: int = Field(
        0, ge=0, description="Validate on the held-out split every N steps (0 = only at the end)."
    )
    batches: int = Field(8, ge=1, description="Held-out batches per validation.")
    early_stop_patience: int = Field(
        0, ge=0, description="Stop after this many validations without improvement; 0 = off."
    )
    early_stop_min_delta: float = Field(
        0.0, ge=0, description="A validation loss must beat the best by this much to count."
    )
    restore_best: bool = Field(
        True, description="On early stopping, restore (and export) the best validated weights."
    )


class TrainConfig(Section):
    batch_size: int = Field(256, ge=1, description="Positions per batch (per micro-batch).")
    devices: int = Field(
        0,
        ge=0,
        description="Train data-parallel on this many local devices (0 = all); batch_size is split "
        "between them and must divide by their number.",
    )
    steps: int = Field(1000, ge=1, description="Optimizer steps per generation (per run).")
    optimizer: Literal["sgd", "adamw", "nadamw"] = Field(
        "adamw", description="'sgd' (momentum, optional Nesterov), 'adamw' or 'nadamw'."
    )
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(
        1e-4, ge=0, description="Decoupled weight decay (skips biases and norm parameters)."
    )
    grad_clip_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient's global norm to this; None = no clipping."
    )
    seed: int = Field(0, description="Seed of the initial weights and of dropout.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    nesterov: bool = Field(True, description="SGD: Nesterov momentum.")
    adam_b1: float = Field(0.9, ge=0, lt=1, description="Adam beta1.")
    adam_b2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    adam_eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    lookahead_steps: int = Field(0, ge=0, description="Lookahead: sync slow weights every k steps; 0 = off.")
    lookahead_alpha: float = Field(0.5, gt=0, le=1, description="Lookahead slow step size.")
    accum_steps: int = Field(1, ge=1, description="Gradient accumulation: micro-batches per optimizer step.")
    precision: Literal["f32", "bf16", "fp16"] = Field(
        "f32", description="Compute dtype; weights and optimizer state stay float32."
    )
    loss_scale_init: float = Field(2.0**15, gt=0, description="fp16: initial dynamic loss scale.")
    loss_scale_period: int = Field(
        2000, ge=1, description="fp16: double the loss scale after this many finite steps."
    )
    ema_decay: float | None = Field(
        None, gt=0, lt=1, description="EMA of the weights with this decay; None = off."
    )
    ema_warmup: bool = Field(
        True, description="EMA decay of the n-th update is min(ema_decay, (1 + n) / (10 + n))."
    )
    swa_every: int = Field(0, ge=0, description="SWA: add the weights to the average every N steps; 0 = off.")
    swa_start: int = Field(0, ge=0, description="SWA: first step (of this run) that is averaged.")
    swa_max_n: int = Field(
        10, ge=1, description="SWA: the average's count is capped here (later snapshots weigh 1/max_n)."
    )
    export_weights: Literal["raw", "ema", "swa"] = Field(
        "raw", description="Which weights the exported model (and validation) uses."
    )
    carry_over: bool = Field(
        True,
        description="RL loop: each generation continues the previous generation's full training "
        "state (optimizer, EMA/SWA, step, loss scale, plateau); false = start from its model file.",
    )
    init_step_from_model: bool = Field(
        True, description="Initialising from a model file continues its global step (anchors schedules)."
    )
    log_every: int = Field(20, ge=1, description="Log metrics every N steps.")
    heartbeat_seconds: float = Field(300.0, ge=0, description="Heartbeat line with ETA every N s; 0 = off.")
    progress_bar: bool = Field(True, description="Show a rich progress bar on a terminal.")
    tensorboard: bool = Field(True, description="Write TensorBoard event files to WORK_DIR/tb.")
    loss: LossConfig = Field(default_factory=LossConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @model_validator(mode="after")
    def _check_averaging(self) -> TrainConfig:
        if self.export_weights == "ema" and self.ema_decay is None:
            raise ValueError("export_weights=ema needs ema_decay to be set")
        if self.export_weights == "swa" and self.swa_every == 0:
            raise ValueError("export_weights=swa needs swa_every > 0")
        return self
