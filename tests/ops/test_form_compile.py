"""Every rule's and cell's non-recurrent form (the mixers' defaults among them) traces as one graph,
forward and backward, under ``torch.compile(fullgraph=True, backend="aot_eager")``.

The fast lane's guard for ``tests/models/test_compile.py`` (slow: whole models, every mixer,
Inductor too): ``aot_eager`` functionalises the forward and the backward as the real compiler
does, so it fails where Inductor would (``out=`` writes into views, data-dependent shapes), but
generates no code. The ``eager`` backend would be cheaper and misses that class: it only runs
Dynamo. The recurrent forms are plain per-token loops and stay in the slow test.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fastweights.ops import CELLS, RULES

RULE_FORMS = [(name, form) for name, rule in RULES.items() for form in rule.forms]
CELL_FORMS = [(name, form) for name, cell in CELLS.items() for form in cell.forms]


def _leaves(tree: object) -> list[Tensor]:
    if tree is None:
        return []
    if isinstance(tree, Tensor):
        return [tree]
    return [leaf for field in tree for leaf in _leaves(field)]


def _map(tree: object, fn):  # rebuilds a tensor tree with fn applied to every tensor
    if tree is None:
        return None
    if isinstance(tree, Tensor):
        return fn(tree)
    return type(tree)(*(_map(field, fn) for field in tree))


def _grad_leaves(trees: object) -> list[Tensor]:
    return [t for t in _leaves(trees) if t.is_floating_point() and t.requires_grad]


def _compare(fn, args: tuple, leaves: list[Tensor]) -> float:
    """The largest gap between compiled and eager (output and gradients), in units of its float32
    budget: <= 1 means equal within the budget."""
    torch._dynamo.reset()
    outputs = []
    for run in (fn, torch.compile(fn, fullgraph=True, backend="aot_eager")):
        y = run(*args)
        grads = torch.autograd.grad(y.square().sum(), leaves, allow_unused=True)
        outputs.append([y, *(g for g in grads if g is not None)])
    eps = torch.finfo(torch.float32).eps
    # float32 reassociation: a few hundred roundings of the largest magnitude involved
    return max(
        float((got - want).abs().max() / (256 * eps * want.abs().max().clamp_min(eps)))
        for want, got in zip(*outputs, strict=True)
    )


@pytest.mark.parametrize(("name", "form"), [p for p in RULE_FORMS if p[1] != "recurrent"])
def test_rule_form_traces(name: str, form: str, make_inputs) -> None:
    inputs = make_inputs(name, B=1, T=6, dtype=torch.float32, requires_grad=True)
    keys = list(inputs)

    def run(*values: Tensor) -> Tensor:
        return RULES[name](**dict(zip(keys, values, strict=True)), impl=form, chunk_size=4)[0]

    values = tuple(inputs.values())
    assert _compare(run, values, _grad_leaves(values)) <= 1.0


@pytest.mark.parametrize(("name", "form"), [p for p in CELL_FORMS if p[1] != "recurrent"])
def test_cell_form_traces(name: str, form: str) -> None:
    x, state, params = CELLS[name].example(1, 5, torch.Generator().manual_seed(0))
    grad = lambda t: t.detach().requires_grad_(t.is_floating_point())  # noqa: E731
    args = tuple(_map(tree, grad) for tree in (x, state, params))

    def run(x: object, state: object, params: object) -> Tensor:
        return CELLS[name](x, state, params, impl=form)[0]

    assert _compare(run, args, _grad_leaves(args)) <= 1.0
