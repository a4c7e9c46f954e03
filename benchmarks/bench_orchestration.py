"""Orchestration overhead: Prefect and Ray start-up and per-stage overhead, as a share
of one generation's time on the quick preset.

    python benchmarks/bench_orchestration.py [--config configs/quick.yaml] [--set KEY=VALUE ...]

Measures, in one run:
  * Prefect start-up: an empty flow run in this process (ephemeral API, no server);
  * Ray start-up: ray.init + ray.shutdown with the preset's CPUs;
  * one generation of the rl-loop flow: wall time vs the sum of the stages' own time
    (each task records `stage_seconds` around its stage function), the rest being
    orchestration (Prefect task runs, artifacts, result persistence, Ray actor start).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", default="configs/quick.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    from prefect import flow

    from zeroloop.config import load_config

    config = load_config(args.config, args.overrides)

    @flow(name="empty")
    def empty() -> int:
        return 1

    t = time.perf_counter()
    empty()
    prefect_start = time.perf_counter() - t

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=config.orchestration.num_cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t
    ray.shutdown()

    from zeroloop.flows.rl_loop import rl_loop

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rl_loop(config_path=args.config, run_dir=tmp, generations=1, overrides=args.overrides)
        flow_wall = time.perf_counter() - t
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())["generations"]["gen-0001"]
    stage_seconds = {s: v["summary"].get("stage_seconds", 0.0) for s, v in manifest.items()}
    work = sum(stage_seconds.values())
    overhead = flow_wall - work
    print(f"config: {args.config} {' '.join(args.overrides)}")
    print(f"prefect start-up (empty flow, ephemeral API): {prefect_start:8.2f} s")
    print(f"ray start-up (init, {config.orchestration.num_cpus} CPUs):          {ray_start:8.2f} s")
    print("stage work (inside the stage functions):")
    for stage, seconds in stage_seconds.items():
        print(f"  {stage:<12} {seconds:8.2f} s")
    print(f"one generation, flow wall time:              {flow_wall:8.2f} s")
    print(f"sum of stage work:                           {work:8.2f} s")
    print(
        f"orchestration overhead (wall - work):        {overhead:8.2f} s "
        f"= {100 * overhead / flow_wall:.1f}% of the generation"
    )
    per_stage = overhead / max(len(stage_seconds), 1)
    print(f"per-stage overhead (average):                {per_stage:8.2f} s")


if __name__ == "__main__":
    main()
