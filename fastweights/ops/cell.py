"""The cell contract: FWPs whose inputs depend on their own past, one level above the rules.

Self-referential weight matrices, recurrent FWPs and the 1991/1993 designs do not fit
``(q, k, v, beta)``: their state is richer and what they write depends on what they output. A cell
is its one-token step::

    step(state, x_t, params=None) -> (y_t, state)

- ``x_t``: the inputs of one token, a tensor ``[B, ...]`` or a NamedTuple of tensors. Whatever
  depends on the current token only (the slow net's projections of ``x_t``) is computed outside,
  in parallel over time, and arrives here.
- ``state``: a NamedTuple of tensors (the fast weights and any recurrent activations), carried
  across calls: running two segments with the carried state equals one long call.
- ``params``: slow weights used inside the recurrence (e.g. the recurrent slow matrix of the
  Recurrent Delta Net), a NamedTuple of tensors, or None for cells that have none.

``scan`` over the step is the recurrent reference (the oracle); a faster form has the same
signature and is tested equal to it. ``Cell.example`` makes random, well-scaled inputs for the
contract tests, the benchmarks and the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

Tree = Any  # a tensor, a NamedTuple of tensors, or None
CellStep = Callable[[Tree, Tree, Tree], tuple[Tensor, Tree]]


def _unbind_time(x: Tree) -> list[Tree]:
    """A ``[B, T, ...]`` tensor or a NamedTuple of them -> one entry per time step."""
    if isinstance(x, Tensor):
        return list(x.unbind(1))
    fields = [_unbind_time(field) for field in x]
    return [type(x)(*per_step) for per_step in zip(*fields, strict=True)]


def scan(step: CellStep, x: Tree, state: Tree, params: Tree = None) -> tuple[Tensor, Tree]:
    """The recurrent reference: ``step`` token by token; returns ``y [B, T, ...]`` and the state."""
    # unbind once: indexing x[:, t] in the loop would make the backward pass quadratic in T
    outputs = []
    for x_t in _unbind_time(x):
        y_t, state = step(state, x_t, params)
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


def recurrent(step: CellStep) -> Callable[..., tuple[Tensor, Tree]]:
    """The recurrent form of a cell: the scan over its step."""

    def form(x: Tree, state: Tree, params: Tree = None) -> tuple[Tensor, Tree]:
        return scan(step, x, state, params)

    return form


@dataclass(frozen=True)
class Cell:
    """A registered cell: its step, its forms, and an example-input maker.

    ``example(batch, length, generator, dtype) -> (x, state, params)`` returns random inputs with
    time at dim 1, an initial state and the slow parameters (None if the cell has none).
    """

    name: str
    step: CellStep
    forms: Mapping[str, Callable[..., tuple[Tensor, Tree]]]
    example: Callable[..., tuple[Tree, Tree, Tree]]

    def __call__(
        self, x: Tree, state: Tree, params: Tree = None, *, impl: str
    ) -> tuple[Tensor, Tree]:
        if impl not in self.forms:
            raise ValueError(
                f"cell {self.name!r} has no {impl!r} form; available: {', '.join(self.forms)}"
            )
        return self.forms[impl](x, state, params)
