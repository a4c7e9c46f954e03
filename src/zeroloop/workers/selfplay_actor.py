"""The self-play worker: one compiled search, many batches, each written as a game chunk.

`SelfplayWorker` is a plain class (tests and benchmarks use it without Ray); the stage
wraps it with `ray.remote`. It compiles the jitted game loop once; `set_weights` swaps
in a new model's weights without recompiling when the network structure is unchanged.

Each `play_batch` writes two files into the output directory:

* `chunk-<worker>-<seq>.trmph`: one `<record> <1|2>` line per game, written first;
* `chunk-<worker>-<seq>.arrow`: the game chunk (`zeroloop.data.chunks`), renamed into
  place last. The `.arrow` is the commit marker: readers count `.arrow` files only, so a
  worker killed between the two renames leaves an orphan `.trmph` that the stage deletes
  or overwrites, never a chunk without its text twin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zeroloop.config import ZeroloopConfig
from zeroloop.data.atomic import write_text_atomic
from zeroloop.data.chunks import GameRecord, write_game_chunk
from zeroloop.games.hex import Hex
from zeroloop.games.trmph import format_record
from zeroloop.model.file import load_model_file
from zeroloop.model.network import create_model, inference_fn
from zeroloop.search.continuous import Slots, make_continuous_selfplay
from zeroloop.search.selfplay import SelfplayBatch, make_selfplay_fn

log = logging.getLogger(__name__)


def chunk_stem(worker: int, seq: int) -> str:
    """File name stem of a worker's seq-th chunk: `chunk-<worker>-<seq>` (zero-padded, sortable)."""
    return f"chunk-{worker:03d}-{seq:06d}"


def chunk_provenance(worker: int) -> dict[str, str]:
    """Who plays this process's chunks: host, pid, worker index and, inside Ray, node/worker ids.

    Recorded in every chunk (`zeroloop.data.chunks.read_chunk_provenance`) so a user can
    see where each batch was played and whether work spread over the cluster.
    """
    out = {"host": socket.gethostname(), "pid": str(os.getpid()), "worker": str(worker)}
    import ray  # workers/ may use Ray; a plain SelfplayWorker outside Ray records host and pid only

    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        out["ray_node_id"] = ctx.get_node_id()
        out["ray_worker_id"] = ctx.get_worker_id()
    return out


def compilation_cache_path(setting: str | None) -> str | None:
    """Resolve `selfplay.compilation_cache_dir`: 'auto' = the user cache, None/'' = off."""
    if not setting:
        return None
    if setting == "auto":
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "zeroloop", "jax")
    return setting


def enable_compilation_cache(path: str | None) -> None:
    """Let XLA reuse compiled programs across processes (a fresh actor then starts in seconds)."""
    if path is None:
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def model_identity(path: str | os.PathLike[str], metadata: dict[str, Any]) -> str:
    """The model id recorded with each game: the file's own id, else name + content hash."""
    if metadata.get("model_id"):
        return str(metadata["model_id"])
    digest = hashlib.blake2b(Path(path).read_bytes(), digest_size=6).hexdigest()
    return f"{Path(path).stem}:{digest}"


def seed_key(seed: int) -> jax.Array:
    """A PRNG key from a 64-bit seed. `jax.random.key` keeps only the low 32 bits unless x64
    is on, which would make batch seeds collide after ~10^5 batches."""
    seed = int(seed) & (2**64 - 1)
    return jax.random.wrap_key_data(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))


def batch_to_records(
    batch: SelfplayBatch,
    board_size: int,
    swap: bool,
    model_id: str | None = None,
    seed: int | None = None,
    search: str | None = None,
    num_games: int | None = None,
    resigning: bool = False,
) -> list[GameRecord]:
    """Cut a `SelfplayBatch` (numpy or device arrays, B games) into `GameRecord`s.

    Only the first `num_games` games are kept (the stage asks for exactly the games it
    still needs; the compiled batch size is fixed). Rows without a winner (the empty
    rows of a continuous batch) are skipped. `resigning`: record the resignation flags.
    """
    b = np.asarray(batch.length)
    keep = len(b) if num_games is None else min(num_games, len(b))
    actions, policy = np.asarray(batch.actions), np.asarray(batch.policy)
    valid, value, winner = (
        np.asarray(batch.policy_valid),
        np.asarray(batch.root_value),
        np.asarray(batch.winner),
    )
    games = []
    for i in range(keep):
        if winner[i] not in (0, 1):
            continue
        t = int(b[i])
        games.append(
            GameRecord(
                board_size=board_size,
                moves=actions[i, :t].astype(np.int16),
                winner=int(winner[i]),
                swap=swap,
                policy=policy[i, :t].astype(np.float32),
                policy_valid=valid[i, :t].astype(bool),
                root_value=value[i, :t].astype(np.float32),
                model_id=model_id,
                seed=seed,
                search=search,
                resigned=bool(batch.resigned[i]) if resigning else None,
                resign_free=bool(batch.resign_free[i]) if resigning else None,
            )
        )
    return games


class SelfplayWorker:
    """Plays batches of self-play games with one compiled search.

    With `selfplay.continuous` (the default) B game slots play continuously: a slot
    whose game ends starts the next one at once, a batch is the next `num_games`
    games to finish, and the games in flight carry over to the next batch (until new
    weights arrive: `set_weights` starts fresh games, so every game is played by one
    model). Without it, B games play in lock-step until the longest ends.

    config: the run config (game, model, mcts, selfplay sections are used).
    worker: this worker's index, part of its chunk names.
    model_path: model file to play with; None = random weights from `config.model`.
    batch_size: games per batch (static: it shapes the compiled program).
    """

    def __init__(
        self,
        config: ZeroloopConfig,
        worker: int = 0,
        model_path: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        enable_compilation_cache(compilation_cache_path(config.selfplay.compilation_cache_dir))
        self.config = config
        self.worker = worker
        self.batch_size = batch_size or config.selfplay.batch_size
        self.env = Hex(config.game.board_size, swap=config.game.swap)
        self.continuous = config.selfplay.continuous
        self._graphdef: Any = None
        self._play: Any = None
        self._compiled: Any = None
        self._slots: Slots | None = None
        self.params: Any = None
        self.model_id = ""
        self.search_settings = json.dumps(
            {"mcts": config.mcts.model_dump(mode="json"), "batch_size": self.batch_size}, sort_keys=True
        )
        self.set_weights(model_path)
        self.provenance = chunk_provenance(worker)

    def set_weights(self, model_path: str | None) -> str:
        """Load `model_path` (None = random weights); recompile only if the net's structure changed.

        Returns the model id that games will record.
        """
        if model_path is None:
            model = create_model(self.config.model, seed=self.config.selfplay.seed)
            model_id = f"random:{self.config.selfplay.seed}"
        else:
            model, header = load_model_file(model_path)
            if header.game.board_size != self.config.game.board_size:
                raise ValueError(
                    f"{model_path}: model was made for {header.game.board_size}x{header.game.board_size}, "
                    f"the config plays {self.config.game.board_size}x{self.config.game.board_size}"
                )
            model_id = model_identity(model_path, header.metadata)
        apply, graphdef, state = inference_fn(model)
        if self._play is None or graphdef != self._graphdef:
            if self._play is not None:
                log.info("worker %d: network structure changed, recompiling", self.worker)
            self._graphdef = graphdef
            self._play = jax.jit(make_selfplay_fn(self.env, apply, self.config.mcts, self.batch_size))
            sp = self.config.selfplay
            cont = make_continuous_selfplay(
                self.env,
                apply,
                self.config.mcts,
                self.batch_size,
                self.batch_size,
                resign_consecutive=sp.resign_consecutive if sp.resign_threshold is not None else None,
                resign_free_share=sp.resign_free_share,
            )
            self._init_slots = jax.jit(cont.init)
            self._play_continuous = jax.jit(cont.play, donate_argnums=(1,))
            self._compiled = None
            self._compiled_continuous = None
        # Weights go to the device once here, not on every batch.
        self.params = jax.device_put(state)
        self.model_id = model_id
        self._slots = None  # games in flight were played by the old weights: start afresh
        return model_id

    def warmup(self) -> float:
        """Compile (or load from the compilation cache) now; returns the seconds it took."""
        start = time.perf_counter()
        # Ahead-of-time: the executables take any weights of the same structure.
        if self.continuous and self._compiled_continuous is None:
            slots = self._init_slots(seed_key(0))
            self._compiled_continuous = self._play_continuous.lower(
                self.params, slots, seed_key(0), np.int32(0), np.float32(-1.0)
            ).compile()
        if not self.continuous and self._compiled is None:
            self._compiled = self._play.lower(self.params, seed_key(0)).compile()
        return time.perf_counter() - start

    def play_continuous(
        self, seed: int, num_games: int, resign_threshold: float | None = None
    ) -> tuple[SelfplayBatch, dict[str, int]]:
        """The next `num_games` (<= batch size) games to finish, as numpy arrays, and what it cost.

        resign_threshold: the root value below which a player resigns (None = the config's).
        Returns (batch with the finished games first, stats: plies, searched_rows,
        finished, terminal_searched, resigned). Games still in flight stay in the slots.
        """
        self.warmup()
        if self._slots is None:
            self._slots = self._init_slots(seed_key(seed ^ 0x5EED))
        threshold = self.config.selfplay.resign_threshold if resign_threshold is None else resign_threshold
        self._slots, out, stats = self._compiled_continuous(
            self.params,
            self._slots,
            seed_key(seed),
            np.int32(min(num_games, self.batch_size)),
            np.float32(-1.0 if threshold is None else threshold),
        )
        batch = jax.tree.map(np.asarray, jax.device_get(out))
        plies, finished, terminal, resigned = (int(x) for x in jax.device_get(stats))
        return batch, {
            "plies": plies,
            "searched_rows": plies * self.batch_size,
            "finished": finished,
            "terminal_searched": terminal,
            "resigned": resigned,
        }

    def play(self, seed: int) -> SelfplayBatch:
        """Play one lock-step batch with `seed` and return it as numpy arrays (no files written)."""
        if self._compiled is None:
            self._compiled = self._play.lower(self.params, seed_key(0)).compile()
        out = self._compiled(self.params, seed_key(seed))
        return jax.tree.map(np.asarray, jax.device_get(out))

    def play_batch(
        self,
        out_dir: str,
        seq: int,
        seed: int,
        num_games: int | None = None,
        resign_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Play one batch and write it as `chunk-<worker>-<seq>.arrow` (+ `.trmph`) in `out_dir`.

        num_games: games to keep (<= batch size). Continuous play stops once that many
        have finished; lock-step play plays the whole batch regardless.
        Returns a small JSON-able summary: path, games, positions, black_wins, timings,
        searched_rows (positions searched, live or not) and terminal_searched.
        """
        compile_seconds = self.warmup()  # a one-off, kept out of the play time
        start = time.perf_counter()
        wanted = self.batch_size if num_games is None else min(num_games, self.batch_size)
        if self.continuous:
            batch, cost = self.play_continuous(seed, wanted, resign_threshold)
        else:
            batch = self.play(seed)
            cost = {"searched_rows": int(np.max(batch.length)) * self.batch_size, "terminal_searched": 0}
        played = time.perf_counter()
        games = batch_to_records(
            batch,
            self.env.board_size,
            self.env.swap,
            model_id=self.model_id,
            seed=seed,
            search=self.search_settings,
            num_games=num_games,
            resigning=self.continuous and self.config.selfplay.resign_threshold is not None,
        )
        stem = Path(out_dir) / chunk_stem(self.worker, seq)
        lines = "".join(format_record(g.board_size, g.moves, g.winner) + "\n" for g in games)
        # The .trmph first, the .arrow last: the .arrow is the commit marker readers count.
        write_text_atomic(stem.with_suffix(".trmph"), lines)
        write_game_chunk(stem.with_suffix(".arrow"), games, provenance=self.provenance)
        done = time.perf_counter()
        return {
            "path": str(stem.with_suffix(".arrow")),
            "worker": self.worker,
            "seq": seq,
            "seed": seed,
            "node": self.provenance.get("ray_node_id", self.provenance["host"]),
            "games": len(games),
            "positions": int(sum(len(g.moves) for g in games)),
            "black_wins": int(sum(g.winner == 0 for g in games)),
            "resigned": cost.get("resigned", 0),
            "searched_rows": cost["searched_rows"],
            "terminal_searched": cost["terminal_searched"],
            "compile_seconds": compile_seconds,
            "play_seconds": played - start,
            "write_seconds": done - played,
        }

    def ping(self) -> int:
        """Liveness probe (returns the worker index)."""
        return self.worker
