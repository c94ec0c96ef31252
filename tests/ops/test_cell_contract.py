"""The contract every registered cell keeps, parametrised over ``CELLS``.

The recurrent scan of a cell's step is the oracle: every other form equals it in float64
(outputs, final state, gradients of the inputs, the initial state and the parameters);
segmented runs carrying the state equal one run; the batch is independent; gradients reach
every input; a form the cell lacks is an error. Precision, as for the rules: the output comes back
in the input dtype and the state in float32 (float64 for float64); bfloat16 inputs are computed in
float32; autocast changes nothing.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fastweights.ops import CELLS

TOL = {"rtol": 1e-10, "atol": 1e-10}
ALL_FORMS = [(name, form) for name, cell in CELLS.items() for form in cell.forms]
FAST_FORMS = [(name, form) for name, form in ALL_FORMS if form != "recurrent"]


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


def _example(name: str, batch: int = 2, length: int = 7, seed: int = 0):
    x, state, params = CELLS[name].example(batch, length, torch.Generator().manual_seed(seed))
    grad = lambda t: t.detach().requires_grad_(t.is_floating_point())  # noqa: E731
    return _map(x, grad), _map(state, grad), _map(params, grad)


def _loss(y: Tensor, state: object) -> Tensor:
    return (y * y.cos()).sum() + sum(leaf.sin().sum() for leaf in _leaves(state))


def _grads(loss: Tensor, trees: list[object]) -> list[Tensor]:
    leaves = [leaf for tree in trees for leaf in _leaves(tree) if leaf.requires_grad]
    return list(torch.autograd.grad(loss, leaves, allow_unused=True))


def _assert_trees_close(actual: object, expected: object) -> None:
    for a, e in zip(_leaves(actual), _leaves(expected), strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize(("name", "form"), FAST_FORMS)
def test_form_equals_recurrent(name, form) -> None:
    x, state, params = _example(name, length=9)
    expected = CELLS[name](x, state, params, impl="recurrent")
    actual = CELLS[name](x, state, params, impl=form)
    torch.testing.assert_close(actual[0], expected[0], **TOL)
    _assert_trees_close(actual[1], expected[1])
    inputs = [x, state, params]
    for a, e in zip(_grads(_loss(*actual), inputs), _grads(_loss(*expected), inputs), strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_segmented_equals_full(name, form) -> None:
    x, state, params = _example(name, length=9, seed=1)
    cell = CELLS[name]
    y_full, s_full = cell(x, state, params, impl=form)
    first = _map(x, lambda t: t[:, :4])
    second = _map(x, lambda t: t[:, 4:])
    y1, s1 = cell(first, state, params, impl=form)
    y2, s2 = cell(second, s1, params, impl=form)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y_full, **TOL)
    _assert_trees_close(s2, s_full)


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_batch_invariance(name, form) -> None:
    x, state, params = _example(name, batch=3, seed=2)
    cell = CELLS[name]
    y, s = cell(x, state, params, impl=form)
    for b in range(3):
        pick = lambda t, b=b: t[b : b + 1]  # noqa: E731
        y_b, s_b = cell(_map(x, pick), _map(state, pick), params, impl=form)
        torch.testing.assert_close(y_b, y[b : b + 1], **TOL)
        _assert_trees_close(s_b, _map(s, pick))


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_gradients_reach_every_input(name, form) -> None:
    x, state, params = _example(name, length=5, seed=3)
    y, s = CELLS[name](x, state, params, impl=form)
    grads = _grads(_loss(y, s), [x, state, params])
    assert grads and all(g is not None and bool(g.abs().sum() > 0) for g in grads)


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck_of_the_scan(name) -> None:
    x, state, params = _example(name, batch=1, length=3, seed=4)
    leaves = [leaf for tree in (x, state, params) for leaf in _leaves(tree) if leaf.requires_grad]

    def run(*flat: Tensor) -> tuple[Tensor, ...]:
        it = iter(flat)
        rebuild = lambda tree: _map(tree, lambda t: next(it) if t.requires_grad else t)  # noqa: E731
        y, s = CELLS[name](rebuild(x), rebuild(state), rebuild(params), impl="recurrent")
        return (y, *_leaves(s))

    # fast mode checks random directions: the full check of large states (srnet1993) takes minutes
    assert torch.autograd.gradcheck(run, tuple(leaves), eps=1e-6, atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("name", list(CELLS))
def test_unknown_form_is_an_error(name) -> None:
    x, state, params = _example(name)
    with pytest.raises(ValueError, match="has no 'nonesuch' form; available: recurrent"):
        CELLS[name](x, state, params, impl="nonesuch")


def test_heads_as_batch_runs_each_head_as_its_own_net() -> None:
    from fastweights.ops.cell import heads_as_batch
    from fastweights.ops.cells import srnet1993

    cell = heads_as_batch(srnet1993.cell)
    x, state, params = cell.example(2, 5, torch.Generator().manual_seed(7), heads=3)
    y, final = cell(x, state, params, impl="recurrent")
    for h in range(3):
        pick = lambda t, h=h: t[:, h]  # noqa: E731
        y_h, final_h = srnet1993.cell(
            _map(x, lambda t, h=h: t[:, :, h]), _map(state, pick), params, impl="recurrent"
        )
        torch.testing.assert_close(y[:, :, h], y_h, **TOL)
        _assert_trees_close(_map(final, pick), final_h)


def test_delta_rnn_v1_split_form_equals_its_scan() -> None:
    from fastweights.ops.cells import delta_rnn

    cell = delta_rnn.cell_v1
    x, state, _ = cell.example(2, 9, torch.Generator().manual_seed(8))
    grad = lambda t: t.detach().requires_grad_()  # noqa: E731
    x, state = _map(x, grad), _map(state, grad)
    expected = cell(x, state, impl="recurrent")
    actual = cell(x, state, impl="split")
    torch.testing.assert_close(actual[0], expected[0], **TOL)
    _assert_trees_close(actual[1], expected[1])
    inputs = [x, state]
    for a, e in zip(_grads(_loss(*actual), inputs), _grads(_loss(*expected), inputs), strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_heads_as_batch_keeps_the_faster_forms() -> None:
    from fastweights.ops.cell import heads_as_batch
    from fastweights.ops.cells import srnet1993

    cell = heads_as_batch(srnet1993.cell)
    assert set(cell.forms) == {"recurrent", "lean"}
    x, state, params = cell.example(2, 4, torch.Generator().manual_seed(9), heads=3)
    expected, fused = cell(x, state, params, impl="recurrent"), cell(x, state, params, impl="lean")
    torch.testing.assert_close(fused[0], expected[0], **TOL)
    _assert_trees_close(fused[1], expected[1])


DTYPES = [torch.bfloat16, torch.float32, torch.float64]


def _cast(trees: tuple, dtype: torch.dtype) -> tuple:
    return tuple(_map(tree, lambda t: t.to(dtype)) for tree in trees)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_output_in_the_input_dtype_and_state_in_float32(name, form, dtype) -> None:
    x, state, params = _cast(CELLS[name].example(2, 7, torch.Generator().manual_seed(10)), dtype)
    y, final = CELLS[name](x, state, params, impl=form)
    state_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    assert y.dtype == dtype
    assert [leaf.dtype for leaf in _leaves(final)] == [state_dtype] * len(_leaves(final))


@pytest.mark.parametrize("name", list(CELLS))
def test_a_float64_state_keeps_float64(name) -> None:
    x, state, params = CELLS[name].example(2, 3, torch.Generator().manual_seed(13))
    y, final = CELLS[name](_map(x, lambda t: t.float()), state, params, impl="recurrent")
    assert y.dtype == torch.float32
    assert all(leaf.dtype == torch.float64 for leaf in _leaves(final))


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_bfloat16_is_computed_in_float32(name, form) -> None:
    cell = CELLS[name]
    example = cell.example(2, 7, torch.Generator().manual_seed(11))  # float64
    rounded = _cast(_cast(example, torch.bfloat16), torch.float64)  # what bfloat16 holds of it

    def run(inputs: tuple, dtype: torch.dtype) -> list[Tensor]:
        y, final = cell(*_cast(inputs, dtype), impl=form)
        return [y, *_leaves(final)]

    low = run(example, torch.bfloat16)
    # exactly the float32 computation on the rounded inputs, its output rounded to bfloat16
    on_rounded = run(rounded, torch.float32)
    on_rounded[0] = on_rounded[0].to(torch.bfloat16)
    for a, e in zip(low, on_rounded, strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=0)
    # Close to the float32 result, within a budget derived from the data: twice what rounding the
    # inputs to bfloat16 does to the result (delta = max |f(rounded) - f(x)|, measured in float64),
    # plus the rounding of y itself to bfloat16 (8 significant bits: at most 2^-9 of its size;
    # budget 2^-8) and float32 rounding (1e-5 of the size).
    high = run(example, torch.float32)
    exact, exact_rounded = run(example, torch.float64), run(rounded, torch.float64)
    for i, (a, ref, f, f_rounded) in enumerate(zip(low, high, exact, exact_rounded, strict=True)):
        delta = (f_rounded - f).abs().max().item()
        size = ref.abs().max().item()
        budget = 2 * delta + ((2**-8 if i == 0 else 0.0) + 1e-5) * size
        error = (a.double() - ref.double()).abs().max().item()
        assert error <= budget, f"leaf {i}: error {error:.3g} > budget {budget:.3g}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_autocast_changes_nothing(name, form, dtype) -> None:
    cell = CELLS[name]
    x, state, params = _cast(cell.example(2, 7, torch.Generator().manual_seed(12)), dtype)
    expected = cell(x, state, params, impl=form)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = cell(x, state, params, impl=form)
    leaves = zip(
        [actual[0], *_leaves(actual[1])], [expected[0], *_leaves(expected[1])], strict=True
    )
    for a, e in leaves:
        assert a.dtype == e.dtype
        torch.testing.assert_close(a, e, rtol=0, atol=0)
