"""Trainer throughput: samples/s and model-FLOPs utilisation (MFU) per model size.

For each model (blocks x channels at a board size) the jitted train step runs on
synthetic batches (numpy, as the loader hands them over) for `--seconds` after a
compile and warm-up; samples/s is batch * steps / time.

FLOPs per sample come from XLA's cost analysis of the compiled train step (forward,
backward, optimizer; 2 FLOPs per multiply-add), divided by the batch size. MFU is
FLOPs/s achieved over the machine's peak. The peak is *measured in the same run*:
the best FLOP rate of a large matmul in the compute dtype (f32 on CPU, bf16 on GPU),
so MFU says how close the trainer gets to what this machine's BLAS/cuBLAS can do,
not to a datasheet. On a GPU the datasheet's dense peak is printed beside it.

    python benchmarks/bench_trainer.py                      # CPU, a few sizes
    python benchmarks/bench_trainer.py --gpu                # 11x11, 10 x 128, bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from zeroloop.config import load_config
from zeroloop.model.network import create_model
from zeroloop.trainer.engine import TrainEngine
from zeroloop.trainer.synthetic import SyntheticBatches
from zeroloop.trainer.tools import _flops

# (board, blocks, channels, batch) on CPU: small enough for 2 shared cores.
CPU_SIZES = [(7, 2, 32, 128), (9, 4, 64, 128), (11, 6, 64, 128)]
GPU_SIZE = (11, 10, 128, 256)

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, FLOP/s.
DATASHEET_BF16 = {
    "H100": 989e12,  # SXM; PCIe is 756e12
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
}


def measure_peak(dtype: jnp.dtype, n: int, seconds: float = 2.0) -> float:
    """Best FLOP/s of an n x n x n matmul in `dtype` (2 n^3 FLOPs per product)."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
    b = jnp.asarray(np.random.default_rng(1).standard_normal((n, n)), dtype)
    mm = jax.jit(lambda x, y: x @ y)
    mm(a, b).block_until_ready()
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        mm(a, b).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def bench_model(board: int, blocks: int, channels: int, batch: int, precision: str, seconds: float) -> dict:
    cfg = load_config(
        None,
        [
            f"game.board_size={board}",
            f"model.blocks={blocks}",
            f"model.channels={channels}",
            f"model.policy_channels={min(32, channels)}",
            f"model.value_channels={min(32, channels) // 4}",
            f"model.value_hidden={2 * channels}",
            f"train.batch_size={batch}",
            f"train.precision={precision}",
        ],
    )
    engine = TrainEngine(cfg.model, cfg.train, total_steps=10**6)
    state = engine.init_state(create_model(cfg.model))
    src = SyntheticBatches(batch, board, seed=0)
    batches = [engine.select_batch(next(src)) for _ in range(8)]
    t0 = time.perf_counter()
    compiled = jax.jit(engine._train_step).lower(state, batches[0]).compile()
    flops = _flops(compiled) / batch
    state, m = engine.train_step(state, batches[0])
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    for b in batches[1:3]:  # warm-up
        state, m = engine.train_step(state, b)
    jax.block_until_ready(m)
    steps, t0 = 0, time.perf_counter()
    while True:
        state, m = engine.train_step(state, batches[steps % len(batches)])
        steps += 1
        if steps % 4 == 0:
            jax.block_until_ready(m)
            if time.perf_counter() - t0 >= seconds:
                break
    dt = time.perf_counter() - t0
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    return {
        "board": board,
        "blocks": blocks,
        "channels": channels,
        "batch": batch,
        "precision": precision,
        "parameters": params,
        "train_gflop_per_sample": flops / 1e9,
        "samples_per_s": steps * batch / dt,
        "steps": steps,
        "compile_s": compile_s,
        "final_loss": float(m["loss"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", action="store_true", help="11x11, 10 blocks x 128 channels, bf16, batch 256")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per model")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size")
    parser.add_argument("--precision", default=None, choices=["f32", "bf16", "fp16"])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    backend = jax.default_backend()
    device = jax.devices()[0]
    host = f"{platform.node()}  {os.cpu_count()} CPUs"
    print(f"# {host}  jax {jax.__version__} on {backend} ({device.device_kind})")
    if args.gpu:
        if backend != "gpu":
            raise SystemExit("--gpu needs a GPU backend (jax[cuda]); this machine has " + backend)
        sizes, precision, dtype, n = [GPU_SIZE], args.precision or "bf16", jnp.bfloat16, 8192
    else:
        sizes, precision, dtype, n = CPU_SIZES, args.precision or "f32", jnp.float32, 1024
    peak = measure_peak(dtype, n)
    print(f"# measured peak: {peak / 1e9:,.1f} GFLOP/s ({jnp.dtype(dtype).name} {n}^3 matmul)")
    sheet = next((v for k, v in DATASHEET_BF16.items() if k in device.device_kind), None)
    if args.gpu and sheet:
        print(f"# datasheet dense bf16 peak of a {device.device_kind}: {sheet / 1e12:,.0f} TFLOP/s")
    header = f"{'model':>18} {'params':>9} {'GFLOP/sample':>12} {'samples/s':>10} {'GFLOP/s':>9} {'MFU':>6}"
    print(header)
    rows = []
    for board, blocks, channels, batch in sizes:
        r = bench_model(board, blocks, channels, args.batch or batch, precision, args.seconds)
        achieved = r["samples_per_s"] * r["train_gflop_per_sample"] * 1e9
        r["achieved_gflop_s"] = achieved / 1e9
        r["mfu_measured_peak"] = achieved / peak
        if args.gpu and sheet:
            r["mfu_datasheet"] = achieved / sheet
        rows.append(r)
        name = f"{board}x{board} {blocks}x{channels} b{r['batch']}"
        print(
            f"{name:>18} {r['parameters']:>9,} {r['train_gflop_per_sample']:>12.4f} "
            f"{r['samples_per_s']:>10,.0f} {r['achieved_gflop_s']:>9,.1f} {r['mfu_measured_peak']:>6.1%}"
            + (f"  (datasheet MFU {r['mfu_datasheet']:.1%})" if "mfu_datasheet" in r else "")
        )
    if args.json:
        out = {
            "backend": backend,
            "device": device.device_kind,
            "peak_flop_s": peak,
            "datasheet": sheet,
            "rows": rows,
        }
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
