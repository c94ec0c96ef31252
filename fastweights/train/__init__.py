"""Training: one plain loop over a task and a model config, runs kept as directories."""

from fastweights.train.loop import CHECKPOINT, TrainConfig, evaluate, learning_rate, train
from fastweights.train.objective import KINDS, Score, score, target_kind

__all__ = [
    "CHECKPOINT",
    "KINDS",
    "Score",
    "TrainConfig",
    "evaluate",
    "learning_rate",
    "score",
    "target_kind",
    "train",
]
