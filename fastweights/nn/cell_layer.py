"""``CellLayer``: any cell of ``fastweights.ops.CELLS`` as a mixer ``forward(x, state)``.

What a cell needs around it is its ``CellSpec`` (``Cell.layer``, defined in the cell's own file in
``fastweights.ops.cells``; the fields are documented in ``fastweights.ops.cell``): the width of
the slow projection per head, the per-token activations that make it the cell's inputs, the
initial state (learned where the paper learns it), the slow parameters acting inside the
recurrence, the output size per head, and optionally the cell to run for a head size.

The layer owns the slow projection (``CellProjection``, its own submodule so a forward hook sees
exactly what the cell sees), the learned initial state and parameters, and the output map::

    inputs = spec.inputs(W_in x[, feedback]);  y, S = cell(inputs, S or S_0, params);  out = W_out y

``CellLayer(feedback=F, **options)`` builds the layer from the cell's ``spec.variant``: ``F``
channels of performance information (``forward(x, state, feedback=[B, T, F])``, which ``FWPModel``
takes from the last ``F`` input channels) reach the cell apart from the token (the 1993 net's eval
units), and ``options`` are the cell's own (e.g. the 1993 net's ``writes=False`` ablation).

The cell owns its precision (``Cell.__call__``): under autocast it still runs in float32 and
returns ``y`` in the dtype of its inputs and the state in float32.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from fastweights.nn.rule_layer import check_heads
from fastweights.ops import CELLS
from fastweights.ops.cell import CellSpec, Tree


def _flatten(tree: Tree) -> tuple[list[Tensor], Callable[[list[Tensor]], Tree]]:
    """A tensor, None or (nested) NamedTuple -> its tensors, and the way back."""
    if tree is None:
        return [], lambda leaves: None
    if isinstance(tree, Tensor):
        return [tree], lambda leaves: leaves[0]
    parts = [_flatten(field) for field in tree]
    sizes = [len(leaves) for leaves, _ in parts]

    def rebuild(leaves: list[Tensor]) -> Tree:
        out, start = [], 0
        for (_, back), size in zip(parts, sizes, strict=True):
            out.append(back(leaves[start : start + size]))
            start += size
        return type(tree)(*out)

    return [leaf for leaves, _ in parts for leaf in leaves], rebuild


def _holder(tensors: list[Tensor], learn: bool | tuple[int, ...]) -> nn.Module:
    """Keep tensors as parameters (floating and learned: all, or the indices in ``learn``) or
    buffers, in order."""
    holder = nn.Module()
    for i, tensor in enumerate(tensors):
        learned = i in learn if isinstance(learn, tuple) else learn
        if learned and tensor.is_floating_point():
            holder.register_parameter(str(i), nn.Parameter(tensor))
        else:
            holder.register_buffer(str(i), tensor)
    return holder


def _held(holder: nn.Module) -> list[Tensor]:
    named = {**dict(holder.named_parameters(recurse=False)), **dict(holder.named_buffers())}
    return [named[str(i)] for i in range(len(named))]


class CellProjection(nn.Module):
    """The slow net of a cell layer: ``x [B, T, d_model]`` -> the cell's inputs."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, spec: CellSpec) -> None:
        super().__init__()
        self.n_heads, self.width, self.spec = n_heads, spec.width(d_head), spec
        self.linear = nn.Linear(d_model, n_heads * self.width, bias=False)

    def forward(self, x: Tensor, feedback: Tensor | None = None) -> Tree:
        B, T, _ = x.shape
        raw = self.linear(x).view(B, T, self.n_heads, self.width)
        return self.spec.inputs(raw) if feedback is None else self.spec.inputs(raw, feedback)


class CellLayer(nn.Module):
    """A cell from ``CELLS`` as a mixer, with its slow projection and learned initial state."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        cell: str,
        impl: str | None = None,
        seed: int | None = None,
        feedback: int = 0,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        if cell not in CELLS or CELLS[cell].layer is None:
            known = [name for name, registered in CELLS.items() if registered.layer is not None]
            raise ValueError(f"unknown cell {cell!r}; known cells: {', '.join(known)}")
        spec = CELLS[cell].layer
        if isinstance(feedback, bool) or not isinstance(feedback, int) or feedback < 0:
            raise ValueError(f"feedback must be an int >= 0, got {feedback!r}")
        if feedback or cell_options:
            if spec.variant is None:
                raise ValueError(
                    f"cell {cell!r} takes no feedback and no options, got feedback={feedback}, "
                    f"options {sorted(cell_options)}"
                )
            spec = spec.variant(feedback=feedback, **cell_options)
        assert spec.feedback == bool(feedback), f"{cell}'s variant must take the feedback"
        self.feedback = feedback
        d_head = d_model // n_heads
        self.cell = CELLS[cell] if spec.cell is None else spec.cell(n_heads, d_head)
        # default: the cell's faster (or, failing that, leaner) form where it has one, else its scan
        faster = [
            f for f in ("fused", "chunk", "parallel", "split", "lean") if f in self.cell.forms
        ]
        self.impl = impl or (faster[0] if faster else "recurrent")
        available = [*self.cell.forms, *self.cell.kernels]  # kernels: e.g. "triton_recurrent"
        if self.impl not in available:
            raise ValueError(
                f"cell {cell!r} has no {self.impl!r} form; available: {', '.join(available)}"
            )
        # the initial state's own generator; by default seeded from torch's global one, so that
        # torch.manual_seed fixes it and two layers of a model start from different states
        if seed is None:
            seed = int(torch.randint(2**62, ()).item())
        generator = torch.Generator().manual_seed(seed)
        self.project = CellProjection(d_model, n_heads, d_head, spec)
        state, self._rebuild_state = _flatten(spec.state(n_heads, d_head, generator))
        params, self._rebuild_params = _flatten(spec.params(n_heads, d_head, generator))
        self.initial_state = _holder(state, spec.learn_state)
        self.params = _holder(params, spec.learn_params)
        self.out = nn.Linear(n_heads * spec.out(d_head), d_model, bias=False)

    def fresh_state(self, batch: int) -> Any:
        """The state a sequence starts from (``initial_state``, learned or fixed), for ``batch``
        sequences, in the cell's own structure."""
        return self._rebuild_state([s.expand(batch, *s.shape) for s in _held(self.initial_state)])

    def cell_params(self) -> Any:
        """The cell's slow parameters (``params``), in the cell's own structure."""
        return self._rebuild_params(_held(self.params))

    def forward(
        self, x: Tensor, state: Any = None, feedback: Tensor | None = None
    ) -> tuple[Tensor, Any]:
        """``x [B, T, d_model]`` (and ``feedback [B, T, F]`` for a layer built with ``F``) ->
        ``(y [B, T, d_model], state)``; the state as the cell's."""
        if self.feedback:
            want = (*x.shape[:2], self.feedback)
            if feedback is None or tuple(feedback.shape) != want:
                got = None if feedback is None else list(feedback.shape)
                raise ValueError(f"this layer takes feedback {list(want)}, got {got}")
        elif feedback is not None:
            raise ValueError("this layer was built without feedback (feedback=0); got feedback")
        inputs = self.project(x, feedback)
        if state is None:
            state = self.fresh_state(x.shape[0])
        y, state = self.cell(inputs, state, self.cell_params(), impl=self.impl)
        return self.out(y.flatten(2)), state


def takes_feedback(factory: Callable[..., nn.Module]) -> bool:
    """Whether a ``MIXERS`` factory builds a mixer that takes the task's feedback apart from the
    token: a ``CellLayer`` of a cell whose spec has a variant, or a module whose constructor has a
    ``feedback`` option (a ``CellLayer`` of any other cell refuses feedback)."""
    if isinstance(factory, partial) and factory.func is CellLayer:
        spec = CELLS[factory.keywords["cell"]].layer
        return spec is not None and spec.variant is not None
    return "feedback" in inspect.signature(factory).parameters
