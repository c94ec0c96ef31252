"""A run directory read back: its task, trained model and train config (``load_run``).

A run holds ``config.json`` (the task, model and train configs) and ``checkpoint.pt`` (the
weights), as ``fastweights.train.loop.train`` writes them. The checkpoint is read with
``load_checkpoint`` (``weights_only=True``: one that could run code is refused unread); weights
that do not fit the model ``config.json`` describes are a one-line ``ValueError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import TASKS, Task
from fastweights.train.artifacts import resolve_task_fields
from fastweights.train.loop import CHECKPOINT, TrainConfig, _first_sentence, load_checkpoint


def load_run(run: str | Path) -> tuple[Task, FWPModel, TrainConfig]:
    """The task, the trained model (eval mode) and the train config of a run directory."""
    run = Path(run)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory: no config.json")
    try:
        config: dict[str, Any] = json.loads(config_path.read_text())
        task_fields = dict(config["task"])
        name = task_fields.pop("name")
        task_cls = next(cls for cls in TASKS.values() if getattr(cls, "__name__", "") == name)
        task = task_cls(**resolve_task_fields(task_fields, run))
        model_config = ModelConfig(**config["model"])
        train_config = TrainConfig(**config["train"])
    except (KeyError, StopIteration, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{config_path} is not a valid run config: {error!r}") from None
    model = FWPModel(model_config)
    state = load_checkpoint(run / CHECKPOINT)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:  # weights of another model than config.json describes
        raise ValueError(
            f"checkpoint {run / CHECKPOINT} does not fit the model of {config_path}: "
            f"{_first_sentence(error)}"
        ) from None
    return task, model.eval(), train_config
