"""Which stages a generation runs and on which paths (pure; no Prefect calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zeroloop.config import ZeroloopConfig
from zeroloop.rundir import RunDir


@dataclass(frozen=True)
class StageSwitches:
    """Seed 002's pipeline switches (`--no-selfplay`, ...) plus `--selfplay-dir`."""

    selfplay: bool = True
    preprocessing: bool = True
    trmph_processing: bool = True
    shuffling: bool = True
    training: bool = True
    evaluation: bool = True
    cleanup: bool = True
    selfplay_dir: str | None = None


@dataclass(frozen=True)
class GenerationPlan:
    generation: int
    run_selfplay: bool
    run_preprocess: bool
    run_shuffle: bool
    run_train: bool
    run_evaluate: bool
    preprocess_inputs: list[str] = field(default_factory=list)
    rd: RunDir | None = None
    config: ZeroloopConfig | None = None
    init_model: str | None = None
    init_state: str | None = None

    def window_generations(self) -> list[int]:
        """Generations whose positions feed this generation's training (newest last)."""
        from zeroloop.data.window import window_generations

        assert self.rd is not None and self.config is not None
        have = [g for g in range(1, self.generation + 1) if self.rd.positions_dir(g).exists()]
        return window_generations(self.config.data, have, self.rd.positions_dir)

    def shuffle_inputs(self) -> list[str]:
        assert self.rd is not None
        return [str(self.rd.positions_dir(g) / "train") for g in self.window_generations()]

    def train_shards(self) -> list[str]:
        assert self.rd is not None
        shuffled = self.rd.shuffled_dir(self.generation)
        if self.run_shuffle or shuffled.exists():
            return [str(shuffled)]
        # --no-shuffling: train straight from the window's (unshuffled) position shards.
        return self.shuffle_inputs()

    def new_train_dirs(self) -> list[str]:
        """Training positions new since the last generation that trained (newest last).

        Counting from the last generation with a model keeps the answer the same when a
        run is repeated.
        """
        assert self.rd is not None
        last = max((g for g in range(self.generation) if self.rd.model_path(g).exists()), default=0)
        return [
            str(self.rd.positions_dir(g) / "train")
            for g in range(last + 1, self.generation + 1)
            if (self.rd.positions_dir(g) / "train").exists()
        ]

    def ready_to_train(self) -> bool:
        """Enough new chunks since the last generation that trained? (data.window.chunks_per_network)

        RL waits for fresh data before training again; SL (0) trains at once.
        """
        from zeroloop.data.window import chunk_infos, ready_to_train

        assert self.config is not None
        return ready_to_train(len(chunk_infos(self.new_train_dirs())), self.config.data.window)

    def train_steps(self) -> int:
        """train.steps, tied to the new data (data.window.samples_per_new_position) and capped so
        each window position is used about data.window.max_reuse times."""
        from zeroloop.data.window import capped_steps, chunk_infos, steps_for_new_data

        assert self.config is not None
        window = self.config.data.window
        train = self.config.train
        steps = train.steps
        if window.samples_per_new_position is not None:
            new_rows = sum(c.rows for c in chunk_infos(self.new_train_dirs()))
            steps = steps_for_new_data(steps, train.batch_size, new_rows, window)
        rows = sum(c.rows for c in chunk_infos(self.shuffle_inputs()))
        return capped_steps(steps, train.batch_size, rows, window)

    def test_shards(self) -> list[str]:
        assert self.rd is not None
        return [
            str(self.rd.positions_dir(g) / "test")
            for g in self.window_generations()
            if (self.rd.positions_dir(g) / "test").exists()
        ]


def plan_generation(
    rd: RunDir, config: ZeroloopConfig, generation: int, switches: StageSwitches
) -> GenerationPlan:
    """Decide the stages and inputs of one generation from the switches and the config."""
    inputs: list[str] = []
    if switches.selfplay:
        inputs.append(str(rd.selfplay_dir(generation)))
    elif switches.selfplay_dir and generation == 1:
        inputs.append(str(Path(switches.selfplay_dir).resolve()))
    if switches.trmph_processing and generation == 1:
        # External TRMPH games (SL, or mixing into RL) enter the run once, at generation 1.
        inputs += [str(Path(d).resolve()) for d in config.data.trmph_dirs]
    # Training continues from the newest model, whether or not it was promoted (AlphaZero
    # trains one network continuously; gating only decides who plays). A generation that
    # waited for data (chunks_per_network) left no model, so look further back.
    previous_gen = next((g for g in range(generation - 1, -1, -1) if rd.model_path(g).exists()), None)
    previous = None if previous_gen is None else rd.model_path(previous_gen)
    # ... and from that model's whole training state (optimizer, averages, step), when kept.
    state_dir = None if previous_gen is None else rd.checkpoint_dir(previous_gen)
    carry = config.train.carry_over and state_dir is not None and (state_dir / "checkpoints").is_dir()
    return GenerationPlan(
        generation=generation,
        run_selfplay=switches.selfplay,
        run_preprocess=switches.preprocessing and bool(inputs),
        run_shuffle=switches.shuffling,
        run_train=switches.training,
        run_evaluate=switches.evaluation and config.eval.num_games > 0,
        preprocess_inputs=inputs,
        rd=rd,
        config=config,
        init_model=str(previous) if previous else None,
        init_state=str(state_dir) if carry else None,
    )
