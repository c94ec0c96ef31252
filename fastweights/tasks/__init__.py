"""Data: generated tasks (no model imports). ``TASKS[name](**fields)`` builds a task whose
``sample(batch_size, generator) -> Batch(x, y, mask)``; see ``fastweights.tasks.base``."""

from __future__ import annotations

from collections.abc import Callable

from fastweights.tasks.base import (
    Batch,
    PackedBatch,
    Task,
    check_sample_args,
    chunk_batch,
    map_batch,
)
from fastweights.tasks.char_lm import CharLM
from fastweights.tasks.code_execution import CodeExecution
from fastweights.tasks.copy import Copy, Reverse
from fastweights.tasks.fewshot import FewShot
from fastweights.tasks.formal import FormalLanguage
from fastweights.tasks.irregular_series import IrregularSpirals
from fastweights.tasks.listops import ListOps
from fastweights.tasks.meta_learning import MetaAssociation, MetaRegression
from fastweights.tasks.mqar import MQAR
from fastweights.tasks.retrieval import AssociativeRetrieval
from fastweights.tasks.state_tracking import StateTracking
from fastweights.tasks.token_lm import TokenLM

TASKS: dict[str, Callable[..., Task]] = {
    "associative_retrieval": AssociativeRetrieval,
    "mqar": MQAR,
    "formal_language": FormalLanguage,
    "listops": ListOps,
    "code_execution": CodeExecution,
    "copy": Copy,
    "reverse": Reverse,
    "few_shot": FewShot,
    "char_lm": CharLM,
    "token_lm": TokenLM,
    "meta_regression": MetaRegression,
    "meta_association": MetaAssociation,
    "irregular_spirals": IrregularSpirals,
    "state_tracking": StateTracking,
}

__all__ = [
    "MQAR",
    "TASKS",
    "AssociativeRetrieval",
    "Batch",
    "CharLM",
    "CodeExecution",
    "Copy",
    "FewShot",
    "FormalLanguage",
    "ListOps",
    "MetaAssociation",
    "MetaRegression",
    "PackedBatch",
    "Reverse",
    "Task",
    "TokenLM",
    "check_sample_args",
    "chunk_batch",
    "map_batch",
]
