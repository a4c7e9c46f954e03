"""The jitted train and eval steps for one (model, train) config, and the initial state.

The model is kept split (nnx graphdef + float32 weight and statistics trees) so a
step is a pure function of (TrainState, batch) under plain `jax.jit`: the whole
state is one pytree that Orbax checkpoints and restores as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from zeroloop.config.model import ModelConfig
from zeroloop.config.train import TrainConfig
from zeroloop.model.network import PolicyValueNet, create_model
from zeroloop.trainer.devices import DataParallel, select_devices
from zeroloop.trainer.losses import aux_warmup_scale, compute_losses
from zeroloop.trainer.optim import build_optimizer, init_optimizer, plateau_scale
from zeroloop.trainer.precision import adjust_loss_scale, all_finite, cast_floats, compute_dtype
from zeroloop.trainer.schedules import build_schedule
from zeroloop.trainer.state import TrainState, Weights, ema_decay_at, ema_update, swa_update, tree_where

Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]

BASE_KEYS = ("obs", "policy", "legal", "value", "weight", "policy_weight")


class TrainEngine:
    """Steps and state for training `model_cfg` under `train_cfg`.

    total_steps: optimizer steps this run makes (cosine length, warmup fraction).
    start_step: global step the run's optimizer starts at (piecewise anchoring, EMA
    warmup and SWA start are counted from it). `schedule` overrides the config's
    (the LR finder sweeps with it).

    The steps run data-parallel over `train.devices` local devices (all by default):
    states from `init_state` and `place_state` are replicated, batches from
    `select_batch` are split along their first axis (zeroloop.trainer.devices).
    """

    def __init__(
        self,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        total_steps: int,
        start_step: int = 0,
        schedule: optax.Schedule | None = None,
    ) -> None:
        if train_cfg.loss.value == "ce" and model_cfg.value_head != "wdl":
            raise ValueError("train.loss.value=ce needs model.value_head=wdl (win/loss logits)")
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.total_steps = total_steps
        self.start_step = start_step
        self.schedule = (
            schedule if schedule is not None else build_schedule(train_cfg, total_steps, start_step)
        )
        self._schedule_override = schedule
        self.lookahead = train_cfg.lookahead_steps > 0
        self.dtype = compute_dtype(train_cfg.precision)
        self.parallel = DataParallel(select_devices(train_cfg.devices))
        self.parallel.check_batch_size(train_cfg.batch_size)
        # Abstract (shape-only) model: the graph structure without paying for an init.
        template = nnx.eval_shape(lambda: create_model(model_cfg))
        template.train()
        self.train_graphdef, _, _ = nnx.split(template, nnx.Param, nnx.BatchStat)
        template.eval()
        self.eval_graphdef, _, _ = nnx.split(template, nnx.Param, nnx.BatchStat)
        keys = list(BASE_KEYS)
        if model_cfg.aux_heads:
            keys.append("owner")
        if "winning_group" in model_cfg.aux_heads:
            keys.append("z")
        self.batch_keys = tuple(keys)
        # The new state stays replicated (so it can be donated back next step); metrics
        # are replicated scalars.
        self.train_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]] = jax.jit(
            self._train_step,
            donate_argnums=(0,),
            out_shardings=(self.parallel.replicated, self.parallel.replicated),
        )
        self.eval_step: Callable[[Weights, Batch], Metrics] = jax.jit(self._eval_step)

    # ------------------------------------------------------------------ state

    def optimizer(self, loss_value: jax.Array | None = None) -> optax.GradientTransformation:
        return build_optimizer(
            self.train_cfg,
            self.total_steps,
            self.start_step,
            loss_value=loss_value,
            schedule=self._schedule_override,
        )

    def init_state(self, model: PolicyValueNet, seed: int | None = None) -> TrainState:
        """A fresh TrainState from `model`'s weights (copied, float32), replicated on the devices."""
        return self.place_state(self._new_state(model, seed))

    def _new_state(self, model: PolicyValueNet, seed: int | None) -> TrainState:
        tc = self.train_cfg
        seed = tc.seed if seed is None else seed
        _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
        params = jax.tree.map(lambda x: jnp.array(x, jnp.float32), params)
        stats = jax.tree.map(lambda x: jnp.array(x, jnp.float32), stats)
        weights = {"params": params, "batch_stats": stats}
        copy = lambda t: jax.tree.map(jnp.copy, t)  # noqa: E731 - distinct buffers for donation
        return TrainState(
            step=jnp.int32(self.start_step),
            micro=jnp.int32(0),
            params=params,
            batch_stats=stats,
            opt_state=init_optimizer(self.optimizer(), params, self.lookahead),
            slow=copy(params) if self.lookahead else None,
            ema=copy(weights) if tc.ema_decay is not None else None,
            swa=jax.tree.map(jnp.zeros_like, weights) if tc.swa_every > 0 else None,
            swa_count=jnp.float32(0.0),
            rng=jax.random.key_data(jax.random.key(seed, impl="rbg")),
            loss_scale=jnp.float32(tc.loss_scale_init if tc.precision == "fp16" else 1.0),
            good_steps=jnp.int32(0),
            skipped=jnp.int32(0),
        )

    def place_state(self, state: Any) -> Any:
        """`state` (a TrainState, or weights) replicated over the training devices."""
        return self.parallel.put_state(state)

    def abstract_state(self) -> TrainState:
        """Shapes, dtypes and (replicated) shardings of the state: the checkpoint restore target.

        Checkpoints hold host copies, so one written on N devices restores on any number.
        """
        shapes = jax.eval_shape(lambda: self._new_state(create_model(self.model_cfg), None))
        return self.parallel.abstract(shapes)

    def model_from_weights(self, weights: Weights) -> PolicyValueNet:
        """A PolicyValueNet in eval mode holding `weights`."""
        params = jax.tree.map(jnp.asarray, weights["params"])
        stats = jax.tree.map(jnp.asarray, weights["batch_stats"])
        model = nnx.merge(self.eval_graphdef, params, stats)
        model.eval()
        return model

    def select_batch(self, batch: Batch) -> dict[str, Any]:
        """Only the keys the step reads (so extra loader keys never trigger a recompile),
        placed on the devices: [B, ...] arrays split into B / devices rows each."""
        if "policy_weight" not in batch:  # batches from before playout-cap masking: all targets
            batch = {**batch, "policy_weight": np.ones(len(batch["weight"]), np.float32)}
        missing = [k for k in self.batch_keys if k not in batch]
        if missing:
            raise KeyError(f"training batch lacks {missing} (has {sorted(batch)})")
        return self.parallel.put_batch({k: batch[k] for k in self.batch_keys})

    # ------------------------------------------------------------------ steps

    def _train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        tc = self.train_cfg
        k = tc.accum_steps
        fp16 = tc.precision == "fp16"
        dropout = self.model_cfg.dropout_rate > 0
        rng, drop_key = state.rng, None
        if dropout:
            # RBG keys (XLA's RngBitGenerator): threefry dropout masks take many seconds to
            # compile on CPU; dropout needs randomness, not threefry's splittability guarantees.
            nxt, drop_key = jax.random.split(jax.random.wrap_key_data(state.rng, impl="rbg"))
            rng = jax.random.key_data(nxt)
        aux_scale = aux_warmup_scale(state.step, tc.loss.aux_warmup_steps)
        scale = state.loss_scale if fp16 else jnp.float32(1.0)

        def loss_fn(params: Any) -> tuple[jax.Array, tuple[Metrics, Any]]:
            model = nnx.merge(
                self.train_graphdef, cast_floats(params, self.dtype), state.batch_stats, copy=True
            )
            out = model.forward(
                batch["obs"].astype(self.dtype), rngs=nnx.Rngs(dropout=drop_key) if dropout else None
            )
            m = compute_losses(out, batch, tc.loss, aux_scale, params)
            return m["loss"] * scale, (m, nnx.state(model, nnx.BatchStat))

        (_, (m, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        if fp16:
            grads = jax.tree.map(lambda g: g / scale, grads)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(m["loss"]) & all_finite(grads)
        # Zeros keep MultiSteps' accumulation in phase with the micro-batch counter; with
        # k == 1 the update is reverted outright below.
        grads = tree_where(finite, grads, jax.tree.map(jnp.zeros_like, grads))

        tx = self.optimizer(loss_value=m["loss"])
        p_in = optax.LookaheadParams(fast=state.params, slow=state.slow) if self.lookahead else state.params
        updates, opt_state = tx.update(grads, state.opt_state, p_in)
        p_out = optax.apply_updates(p_in, updates)
        params, slow = (p_out.fast, p_out.slow) if self.lookahead else (p_out, None)
        keep = finite | (k > 1)
        params = tree_where(keep, params, state.params)
        opt_state = tree_where(keep, opt_state, state.opt_state)
        if self.lookahead:
            slow = tree_where(keep, slow, state.slow)
        batch_stats = tree_where(finite, new_stats, state.batch_stats)

        micro = state.micro + 1
        boundary = (micro % k) == 0
        step = state.step + boundary.astype(jnp.int32)
        run_steps = step - self.start_step
        current = {"params": params, "batch_stats": batch_stats}
        ema, swa, swa_count = state.ema, state.swa, state.swa_count
        if tc.ema_decay is not None:
            decay = ema_decay_at(tc.ema_decay, run_steps - 1, tc.ema_warmup)
            ema = tree_where(boundary, ema_update(state.ema, current, decay), state.ema)
        if tc.swa_every > 0:
            take = boundary & (run_steps >= tc.swa_start) & ((run_steps - tc.swa_start) % tc.swa_every == 0)
            new_swa, new_count = swa_update(state.swa, current, state.swa_count, tc.swa_max_n)
            swa = tree_where(take, new_swa, state.swa)
            swa_count = jnp.where(take, new_count, state.swa_count)
        loss_scale, good_steps = state.loss_scale, state.good_steps
        if fp16:
            loss_scale, good_steps = adjust_loss_scale(loss_scale, good_steps, finite, tc.loss_scale_period)

        new_state = TrainState(
            step=step,
            micro=micro,
            params=params,
            batch_stats=batch_stats,
            opt_state=opt_state,
            slow=slow,
            ema=ema,
            swa=swa,
            swa_count=swa_count,
            rng=rng,
            loss_scale=loss_scale,
            good_steps=good_steps,
            skipped=state.skipped + (~finite).astype(jnp.int32),
        )
        metrics = dict(m)
        metrics["grad_norm"] = grad_norm
        metrics["lr"] = self.schedule(state.step - self.start_step) * plateau_scale(state.opt_state)
        metrics["aux_scale"] = jnp.asarray(aux_scale, jnp.float32)
        metrics["finite"] = finite
        if fp16:
            metrics["loss_scale"] = state.loss_scale
        return new_state, metrics

    def _eval_step(self, weights: Weights, batch: Batch) -> Metrics:
        """Losses of `weights` on `batch` in eval mode (running statistics, no dropout)."""
        model = nnx.merge(self.eval_graphdef, weights["params"], weights["batch_stats"])
        out = model.forward(batch["obs"].astype(jnp.float32))
        return compute_losses(out, batch, self.train_cfg.loss, 1.0)


_ENGINES: dict[tuple[Any, ...], TrainEngine] = {}
_MAX_ENGINES = 4


def cached_engine(
    model_cfg: ModelConfig, train_cfg: TrainConfig, total_steps: int, start_step: int = 0
) -> TrainEngine:
    """A TrainEngine shared by runs with equal settings in this process.

    An engine holds no training state, only compiled steps; sharing it spares a
    retried or resumed run (and the tests) another XLA compilation.
    """
    key = (model_cfg, train_cfg, total_steps, start_step)
    engine = _ENGINES.get(key)
    if engine is None:
        if len(_ENGINES) >= _MAX_ENGINES:
            _ENGINES.pop(next(iter(_ENGINES)))
        engine = _ENGINES[key] = TrainEngine(model_cfg, train_cfg, total_steps, start_step)
    return engine
