"""``fwp train PRESET --out DIR [--resume] [--task.f=v --model.f=v --train.f=v ...]``."""

from __future__ import annotations

import argparse

from fastweights.commands.progress import Progress
from fastweights.train.loop import train
from fastweights.train.presets import RUN_PRESETS, configs

OVERRIDES = True  # takes --section.field=value options (see fastweights.train.overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", help=f"one of: {', '.join(RUN_PRESETS)}")
    parser.add_argument("--out", required=True, help="the run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")


def run(args: argparse.Namespace) -> int:
    task, model_config, train_config = configs(args.preset, args.overrides)
    progress = Progress(train_config.steps)
    train(task, model_config, train_config, args.out, resume=args.resume, log=progress)
    return 0
