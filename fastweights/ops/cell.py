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
contract tests, the benchmarks and the docs (``cell_example`` builds it from a sampling function).

``Cell.__call__(x, state, params=None, *, impl) -> (y, state)`` runs the form the caller named and
owns the precision, as ``LearningRule.__call__`` does: autocast off; inputs, state and params in
float32 for half/bfloat16/float32 inputs (float64 in ``x`` or the state keeps everything float64);
``y`` in the dtype of ``x`` (its first tensor), the state in float32 (float64). Kernel forms
(``kernels``) take ``x`` and ``params`` as they come.

``Cell.layer`` (a ``CellSpec``) says how the cell becomes a layer (``fastweights.nn.CellLayer``):
the width of the slow projection, the per-token activations, the initial state, the slow
parameters. It lives in the cell's file, so adding a cell is its file plus one line in ``CELLS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

Tree = Any  # a tensor, a NamedTuple of tensors, or None
CellStep = Callable[[Tree, Tree, Tree], tuple[Tensor, Tree]]


class Sampler:
    """Float64 draws from one generator, for a cell's ``example``: ``randn(*shape)`` is standard
    normal, ``randn.uniform(*shape)`` uniform on [0, 1)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def __call__(self, *shape: int) -> Tensor:
        return torch.randn(*shape, generator=self.generator, dtype=torch.float64)

    def uniform(self, *shape: int) -> Tensor:
        return torch.rand(*shape, generator=self.generator, dtype=torch.float64)


def cell_example(draw: Callable[..., tuple[Tree, Tree, Tree]]) -> Callable[..., tuple[Tree, ...]]:
    """A cell's ``example(batch, length, generator, dtype=float64, **sizes) -> (x, state, params)``
    from ``draw(randn, batch, length, **sizes)``, which samples in float64 from ``randn`` (a
    ``Sampler`` over ``generator``); every tensor comes back in ``dtype``, so an example's values
    do not depend on its dtype beyond rounding."""

    def example(
        batch: int,
        length: int,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        **sizes: Any,
    ) -> tuple[Tree, ...]:
        trees = draw(Sampler(generator), batch, length, **sizes)
        return tuple(_map(tree, lambda t: t.to(dtype)) for tree in trees)

    example.__doc__ = draw.__doc__
    return example


def init_normal(generator: torch.Generator, *shape: int, std: float) -> Tensor:
    """``N(0, std²)`` in float32 from ``generator``: the initial values of a cell layer's state
    and slow parameters (``CellSpec.state``, ``CellSpec.params``)."""
    return std * torch.randn(*shape, generator=generator)


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


def _map(tree: Tree, fn: Callable[[Tensor], Tensor]) -> Tree:
    if tree is None or isinstance(tree, Tensor):
        return None if tree is None else fn(tree)
    return type(tree)(*(_map(field, fn) for field in tree))


def heads_as_batch(cell: Cell) -> Cell:
    """``cell``, which has no head dimension, run on inputs and states ``[B, H, ...]``.

    Each head is an independent copy of the net: heads fold into the batch for the step
    (``[B, H, ...] -> [B·H, ...]``) and unfold after it; the parameters are shared.
    """

    def step(state: Tree, x_t: Tree, params: Tree = None) -> tuple[Tensor, Tree]:
        B, H = _leaves(x_t)[0].shape[:2]
        y, state = cell.step(
            _map(state, lambda t: t.reshape(B * H, *t.shape[2:])),
            _map(x_t, lambda t: t.reshape(B * H, *t.shape[2:])),
            params,
        )
        return y.reshape(B, H, *y.shape[1:]), _map(state, lambda t: t.reshape(B, H, *t.shape[1:]))

    def folded(form: Callable[..., tuple[Tensor, Tree]]) -> Callable[..., tuple[Tensor, Tree]]:
        # a whole-sequence form: x [B, T, H, ...] -> [B·H, T, ...]; state [B, H, ...] -> [B·H, ...]
        def run(x: Tree, state: Tree, params: Tree = None) -> tuple[Tensor, Tree]:
            B, T, H = _leaves(x)[0].shape[:3]
            x = _map(x, lambda t: t.transpose(1, 2).reshape(B * H, T, *t.shape[3:]))
            y, state = form(x, _map(state, lambda t: t.reshape(B * H, *t.shape[2:])), params)
            y = y.reshape(B, H, T, *y.shape[2:]).transpose(1, 2)
            return y, _map(state, lambda t: t.reshape(B, H, *t.shape[1:]))

        return run

    def example(
        batch: int, length: int, generator: torch.Generator, *args: Any, heads: int = 2, **kw: Any
    ) -> tuple[Tree, Tree, Tree]:
        x, state, params = cell.example(batch * heads, length, generator, *args, **kw)
        x = _map(x, lambda t: t.reshape(batch, heads, *t.shape[1:]).transpose(1, 2))  # [B,T,H,..]
        return x, _map(state, lambda t: t.reshape(batch, heads, *t.shape[1:])), params

    forms = {"recurrent": recurrent(step)}
    forms |= {name: folded(form) for name, form in cell.forms.items() if name != "recurrent"}
    return Cell(cell.name, step, forms, example)


def _leaves(tree: Tree) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    return [leaf for field in tree if field is not None for leaf in _leaves(field)]


@dataclass(frozen=True)
class CellSpec:
    """How a cell becomes a layer (``fastweights.nn.CellLayer``), for head size ``d``:

    - ``width(d)``: per head, how many numbers the slow net emits per token;
    - ``inputs(raw [B, T, H, width])``: those numbers made into the cell's inputs (splits and the
      per-token activations: softmax, sigmoid, feature maps);
    - ``state(H, d, generator)``: the initial state without its batch dimension (learned, as the
      SRWM's ``W_0``, or zeros), a tensor or NamedTuple of tensors;
    - ``params(H, d, generator)``: the slow weights that act inside the recurrence (default
      None);
    - ``out(d)``: per head, the size of the cell's output (default ``d``);
    - ``learn_state``, ``learn_params``: which leaves of the initial state / the params are learned
      (all, none, or their indices); the others are fixed buffers;
    - ``cell(H, d)`` (optional): the cell to run, for cells whose size is a layout chosen from
      ``d`` (default: the registered cell itself);
    - ``feedback``: whether ``inputs`` takes a second argument, the task's feedback channels
      ``[B, T, F]`` (performance information, e.g. the previous step's target), which the layer
      receives apart from the token (``CellLayer(feedback=F)``);
    - ``variant(feedback=F, **options)`` (optional): the spec of the layer with ``F`` feedback
      channels and the cell's own options (e.g. an ablation); None for a cell that has neither.
    """

    width: Callable[[int], int]
    inputs: Callable[[Tensor], Tree]
    state: Callable[[int, int, torch.Generator], Tree]
    params: Callable[[int, int, torch.Generator], Tree] = lambda H, d, generator: None
    out: Callable[[int], int] = lambda d: d
    learn_state: bool | tuple[int, ...] = True
    learn_params: bool | tuple[int, ...] = True
    cell: Callable[[int, int], Cell] | None = None
    feedback: bool = False
    variant: Callable[..., CellSpec] | None = None


@dataclass(frozen=True)
class Cell:
    """A registered cell: its step, its forms, an example-input maker, and how it becomes a layer.

    ``example(batch, length, generator, dtype) -> (x, state, params)`` returns random inputs with
    time at dim 1, an initial state and the slow parameters (None if the cell has none).
    """

    name: str
    step: CellStep
    forms: Mapping[str, Callable[..., tuple[Tensor, Tree]]]
    example: Callable[..., tuple[Tree, Tree, Tree]]
    # forms that run only where their kernels do (Triton: CUDA, or the CPU interpreter), own
    # their input precision (float32 state), and stay out of the fp64 contract that ``forms`` keep
    kernels: Mapping[str, Callable[..., tuple[Tensor, Tree]]] = field(default_factory=dict)
    # how the cell becomes a layer; None for a cell that is no mixer
    layer: CellSpec | None = None

    def __call__(
        self, x: Tree, state: Tree, params: Tree = None, *, impl: str
    ) -> tuple[Tensor, Tree]:
        form = self.forms.get(impl) or self.kernels.get(impl)
        if form is None:
            available = ", ".join([*self.forms, *self.kernels])
            raise ValueError(f"cell {self.name!r} has no {impl!r} form; available: {available}")
        first = _leaves(x)[0]
        out_dtype = first.dtype
        # float64 anywhere in the inputs or the state stays float64 (a float64 state is how the
        # historical cells are studied exactly); everything else computes in float32
        wide = any(t.dtype == torch.float64 for t in (*_leaves(x), *_leaves(state)))
        dtype = torch.float64 if wide else torch.float32

        def compute(t: Tensor) -> Tensor:
            return t.to(dtype) if t.is_floating_point() else t

        with torch.autocast(first.device.type, enabled=False):
            if impl in self.forms:  # a kernel form takes its inputs as they come
                x, params = _map(x, compute), _map(params, compute)
            y, state = form(x, _map(state, compute), params)
        return y.to(out_dtype), state
