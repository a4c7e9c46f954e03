"""The whole config: one field per section."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section
from zeroloop.config.data import DataConfig, ShuffleConfig
from zeroloop.config.evaluation import EvalConfig
from zeroloop.config.game import GameConfig
from zeroloop.config.mcts import MctsConfig
from zeroloop.config.model import ModelConfig
from zeroloop.config.orchestration import OrchestrationConfig
from zeroloop.config.selfplay import SelfplayConfig
from zeroloop.config.train import TrainConfig


class ZeroloopConfig(Section):
    """Every setting of a run. Unknown keys anywhere are errors."""

    name: str = Field("zeroloop", description="A label for the run.")
    game: GameConfig = Field(default_factory=GameConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    mcts: MctsConfig = Field(default_factory=MctsConfig)
    selfplay: SelfplayConfig = Field(default_factory=SelfplayConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    shuffle: ShuffleConfig = Field(default_factory=ShuffleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
