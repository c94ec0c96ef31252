"""``fwp train PRESET --out DIR [--resume] [--task.f=v --model.f=v --train.f=v ...]``."""

from __future__ import annotations

import argparse
from typing import Any

from fastweights.models import ModelConfig
from fastweights.tasks import TASKS
from fastweights.train.loop import TrainConfig, train
from fastweights.train.overrides import apply_overrides
from fastweights.train.presets import RUN_PRESETS
from fastweights.train.progress import Progress

OVERRIDES = True  # takes --section.field=value options (see fastweights.train.overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", help=f"one of: {', '.join(RUN_PRESETS)}")
    parser.add_argument("--out", required=True, help="the run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")


def configs(preset: str, overrides: list[str]) -> tuple[Any, ModelConfig, TrainConfig]:
    """The task, model config and train config of ``preset`` with ``overrides`` applied."""
    if preset not in RUN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(RUN_PRESETS)}")
    spec = RUN_PRESETS[preset]
    task_name, task_fields = spec["task"]
    task_cls = TASKS[task_name]
    values = apply_overrides(
        {
            "task": (task_cls, task_fields),
            "model": (ModelConfig, spec["model"]),
            "train": (TrainConfig, spec["train"]),
        },
        overrides,
    )
    task = task_cls(**values["task"])
    io = {"vocab_size": task.vocab_size} if task.vocab_size else {"d_input": task.d_input}
    model = ModelConfig(**{**values["model"], **io, "n_out": task.n_out})
    return task, model, TrainConfig(**values["train"])


def run(args: argparse.Namespace) -> int:
    task, model_config, train_config = configs(args.preset, args.overrides)
    progress = Progress(train_config.steps)
    train(task, model_config, train_config, args.out, resume=args.resume, log=progress)
    return 0
