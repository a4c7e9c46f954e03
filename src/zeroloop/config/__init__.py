"""Typed configuration: one pydantic section per stage, loaded from YAML."""

from zeroloop.config.data import DataConfig, ShuffleConfig
from zeroloop.config.evaluation import EvalConfig
from zeroloop.config.game import GameConfig
from zeroloop.config.loading import (
    ConfigError,
    config_differences,
    config_to_yaml,
    load_config,
    write_run_config,
)
from zeroloop.config.mcts import MctsConfig
from zeroloop.config.model import ModelConfig
from zeroloop.config.orchestration import OrchestrationConfig
from zeroloop.config.root import ZeroloopConfig
from zeroloop.config.selfplay import SelfplayConfig
from zeroloop.config.train import TrainConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "GameConfig",
    "MctsConfig",
    "ModelConfig",
    "OrchestrationConfig",
    "SelfplayConfig",
    "ShuffleConfig",
    "TrainConfig",
    "ZeroloopConfig",
    "config_differences",
    "config_to_yaml",
    "load_config",
    "write_run_config",
]
