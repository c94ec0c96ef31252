"""A task's files in its run directory: stored in ``config.json`` relative to the run.

A task may keep files beside its run (``task.save_artifacts(run_dir)``: a ``TokenLM`` saves its
tokenizer as ``tokenizer.json`` and returns the task that reads it). ``describe_task`` writes
such a path relative to the run directory, so a run can be moved or copied whole;
``resolve_task_fields`` turns it back into a path under the run's directory when it is loaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

FILE_FIELDS = ("tokenizer",)  # task fields that may name a file saved in the run directory


def describe_task(task: Any, run_dir: str | Path) -> dict[str, Any]:
    """The task's fields, a file inside ``run_dir`` given relative to it."""
    fields = dataclasses.asdict(task)
    root = Path(run_dir).resolve()
    for name in FILE_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and Path(value).resolve().is_relative_to(root):
            fields[name] = Path(value).resolve().relative_to(root).as_posix()
    return fields


def resolve_task_fields(fields: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """``describe_task``'s fields read back: a relative file path joined to ``run_dir``."""
    fields = dict(fields)
    for name in FILE_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and not Path(value).is_absolute():
            fields[name] = str(Path(run_dir) / value)
    return fields
