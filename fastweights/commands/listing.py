"""``fwp list rules|cells|mixers|tasks|presets|runs``: the registered names, one per line
(``presets``: the model presets; ``runs``: the run presets that ``fwp train`` takes)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable


def _rules() -> Iterable[str]:
    from fastweights.ops import RULES

    return RULES


def _cells() -> Iterable[str]:
    from fastweights.ops import CELLS

    return CELLS


def _mixers() -> Iterable[str]:
    from fastweights.nn import MIXERS

    return MIXERS


def _tasks() -> Iterable[str]:
    from fastweights.tasks import TASKS

    return TASKS


def _presets() -> Iterable[str]:
    from fastweights.models import PRESETS

    return PRESETS


def _runs() -> Iterable[str]:
    from fastweights.train.presets import RUN_PRESETS

    return RUN_PRESETS


REGISTRIES: dict[str, Callable[[], Iterable[str]]] = {
    "rules": _rules,
    "cells": _cells,
    "mixers": _mixers,
    "tasks": _tasks,
    "presets": _presets,
    "runs": _runs,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("registry", help=f"one of: {', '.join(REGISTRIES)}")


def run(args: argparse.Namespace) -> int:
    if args.registry not in REGISTRIES:
        raise ValueError(
            f"unknown registry {args.registry!r}; choose one of: {', '.join(REGISTRIES)}"
        )
    for name in REGISTRIES[args.registry]():
        print(name)
    return 0
