"""The contract every registered learning rule and form keeps, parametrised over ``RULES``.

Every non-recurrent form equals the recurrent oracle in float64 (outputs, final state, gradients
of every input) at awkward lengths; segmented == full; batch invariance; token-by-token ``step``
== every form; ``gradcheck`` of the chunk forms; the dtype and autocast contract.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES, Output

ALL_FORMS = [(name, form) for name, rule in RULES.items() for form in rule.forms]
FAST_FORMS = [(name, form) for name, form in ALL_FORMS if form != "recurrent"]
TOL = {"rtol": 1e-10, "atol": 1e-10}

# (chunk size, length): 1, C−1, C, 2C+1 and a prime; C = 64 (the triangular inverse by four
# 16-blocks and block forward substitution), C = 20 (padded to two 16-blocks)
LENGTHS = [(C, T) for C in (4, 16) for T in sorted({1, C - 1, C, 2 * C + 1, 37})]
LENGTHS += [(64, 130), (20, 45), (1, 5)]  # C = 1: every token its own chunk


def _beta_kinds(name: str) -> tuple[bool, ...]:
    return (False, True) if RULES[name].per_channel_beta else (False,)


def _run(name: str, impl: str, inputs: dict[str, Tensor], **options: object) -> Output:
    return RULES[name](**inputs, impl=impl, **options)


def _grads(loss: Tensor, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    return dict(zip(inputs, torch.autograd.grad(loss, list(inputs.values())), strict=True))


def _assert_same(actual: Output, expected: Output, **tol: float) -> None:
    torch.testing.assert_close(actual.o, expected.o, **tol, msg=lambda m: f"outputs: {m}")
    torch.testing.assert_close(actual.state, expected.state, **tol, msg=lambda m: f"state: {m}")


def _assert_grads_same(actual: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(
            actual[name], expected[name], **TOL, msg=lambda m, name=name: f"d{name}: {m}"
        )


MATRIX = [
    pytest.param(
        name,
        form,
        C,
        T,
        per_channel,
        with_state,
        id=f"{name}-{form}-C{C}-T{T}-{'vbeta' if per_channel else 'beta'}-"
        f"{'S0' if with_state else 'zero'}",
    )
    for name, form in FAST_FORMS
    for C, T in LENGTHS
    for per_channel in _beta_kinds(name)
    for with_state in (True, False)
]


@pytest.mark.parametrize(("name", "form", "C", "T", "per_channel", "with_state"), MATRIX)
def test_form_equals_recurrent(
    make_inputs, nonlinear_loss, name, form, C, T, per_channel, with_state
) -> None:
    inputs = make_inputs(
        name,
        T=T,
        K=5,
        V=4,
        per_channel=per_channel,
        initial_state=with_state,
        requires_grad=True,
        seed=T + C,
    )
    expected = _run(name, "recurrent", inputs)
    actual = _run(name, form, inputs, chunk_size=C)
    _assert_same(actual, expected, **TOL)
    assert actual.state.dtype == torch.float64
    loss_expected, loss_actual = nonlinear_loss(expected), nonlinear_loss(actual)
    torch.testing.assert_close(loss_actual, loss_expected, **TOL)
    _assert_grads_same(_grads(loss_actual, inputs), _grads(loss_expected, inputs))


@pytest.mark.parametrize(
    "name", sorted({name for name, _ in FAST_FORMS if "g" in RULES[name].gates})
)
def test_chunk_with_strong_decay_equals_recurrent(make_inputs, nonlinear_loss, name) -> None:
    # g = −3 everywhere: the cumulative gate reaches −192 in a chunk of 64, past the exp clamp
    inputs = make_inputs(name, T=130, requires_grad=True, seed=3)
    inputs["g"] = torch.full_like(inputs["g"], -3.0, requires_grad=True)
    expected = _run(name, "recurrent", inputs)
    expected_grads = _grads(nonlinear_loss(expected), inputs)
    for form in (form for n, form in FAST_FORMS if n == name):
        actual = _run(name, form, inputs, chunk_size=64)
        _assert_same(actual, expected, **TOL)
        _assert_grads_same(_grads(nonlinear_loss(actual), inputs), expected_grads)


@pytest.mark.parametrize(("name", "form"), FAST_FORMS)
def test_one_tensor_as_query_and_key(make_inputs, nonlinear_loss, name, form) -> None:
    # the same tensor object passed as q and k: only the query may be scaled
    inputs = make_inputs(name, T=21, requires_grad=True, seed=5)
    inputs["q"] = inputs["k"]
    expected = _run(name, "recurrent", inputs)
    actual = _run(name, form, inputs, chunk_size=8)
    _assert_same(actual, expected, **TOL)
    _assert_grads_same(
        _grads(nonlinear_loss(actual), inputs), _grads(nonlinear_loss(expected), inputs)
    )


BETA_CASES = [
    pytest.param(name, form, per_channel, id=f"{name}-{form}-{'vbeta' if per_channel else 'beta'}")
    for name, form in ALL_FORMS
    for per_channel in _beta_kinds(name)
]


@pytest.mark.parametrize(("name", "form", "per_channel"), BETA_CASES)
def test_segmented_equals_full(make_inputs, nonlinear_loss, name, form, per_channel) -> None:
    inputs = make_inputs(name, T=37, per_channel=per_channel, requires_grad=True, seed=1)
    full = _run(name, form, inputs, chunk_size=4)
    split = 13  # not a multiple of the chunk size
    head = {n: x[:, :split] if n != "initial_state" else x for n, x in inputs.items()}
    tail = {n: x[:, split:] for n, x in inputs.items() if n != "initial_state"}
    first = _run(name, form, head, chunk_size=4)
    second = _run(name, form, {**tail, "initial_state": first.state}, chunk_size=4)
    segmented = Output(torch.cat([first.o, second.o], dim=1), second.state)
    _assert_same(segmented, full, rtol=1e-12, atol=1e-12)
    _assert_grads_same(
        _grads(nonlinear_loss(segmented), inputs), _grads(nonlinear_loss(full), inputs)
    )


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_batch_invariance(make_inputs, name, form) -> None:
    inputs = make_inputs(name, B=3, T=11, per_channel=RULES[name].per_channel_beta, seed=2)
    batched = _run(name, form, inputs, chunk_size=4)
    for b in range(3):
        alone = _run(name, form, {n: x[b : b + 1] for n, x in inputs.items()}, chunk_size=4)
        _assert_same(
            alone, Output(batched.o[b : b + 1], batched.state[b : b + 1]), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_step_by_step_equals_form(make_inputs, name, form) -> None:
    rule = RULES[name]
    inputs = make_inputs(name, T=10, K=6, V=3, seed=4)
    S = inputs["initial_state"]
    q = inputs["q"] * 6**-0.5  # the caller of step scales the queries
    outputs = []
    for t in range(10):
        gates_t = {gate: inputs[gate][:, t] for gate in rule.gates}
        o_t, S = rule.step(
            S, q[:, t], inputs["k"][:, t], inputs["v"][:, t], inputs["beta"][:, t], **gates_t
        )
        outputs.append(o_t)
    stepped = Output(torch.stack(outputs, dim=1), S)
    _assert_same(_run(name, form, inputs, chunk_size=4), stepped, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "form", "per_channel"), [c for c in BETA_CASES if c.values[1] != "recurrent"]
)
def test_gradcheck(make_inputs, name, form, per_channel) -> None:
    inputs = make_inputs(
        name, B=1, T=5, H=1, K=3, V=2, per_channel=per_channel, requires_grad=True, seed=5
    )
    names = list(inputs)

    def fn(*tensors: Tensor) -> tuple[Tensor, Tensor]:
        return tuple(_run(name, form, dict(zip(names, tensors, strict=True)), chunk_size=2))

    assert torch.autograd.gradcheck(fn, tuple(inputs.values()), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
@pytest.mark.parametrize(
    ("dtype", "state_dtype", "tol"),
    [
        (torch.float64, torch.float64, 1e-12),
        (torch.float32, torch.float32, 1e-5),
        (torch.bfloat16, torch.float32, 3e-2),
    ],
    ids=["float64", "float32", "bfloat16"],
)
def test_dtype_contract(make_inputs, name, form, dtype, state_dtype, tol) -> None:
    reference = _run(name, "recurrent", make_inputs(name, T=9, seed=6))
    out = _run(name, form, make_inputs(name, T=9, seed=6, dtype=dtype), chunk_size=4)
    assert out.o.dtype == dtype
    assert out.state.dtype == state_dtype
    assert out.o.shape == reference.o.shape and out.state.shape == reference.state.shape
    _assert_same(Output(out.o.double(), out.state.double()), reference, rtol=tol, atol=tol)


@pytest.mark.parametrize(("name", "form"), ALL_FORMS)
def test_autocast_is_disabled_inside(make_inputs, name, form) -> None:
    inputs = make_inputs(name, T=9, K=8, V=5, dtype=torch.float32, seed=7)
    plain = _run(name, form, inputs, chunk_size=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = _run(name, form, inputs, chunk_size=4)
    assert autocast.o.dtype == torch.float32
    assert autocast.state.dtype == torch.float32
    _assert_same(autocast, plain, rtol=0, atol=0)
