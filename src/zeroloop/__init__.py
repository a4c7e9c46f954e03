"""zeroloop: a workflow-orchestrated AlphaZero-style reinforcement-learning pipeline for Hex."""

__version__ = "0.1.0"
