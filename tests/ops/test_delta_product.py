"""DeltaProduct with n_h > 1 steps per token: every form == the token-step oracle (float64:
outputs, final state, all gradients with the initial state), varlen, segments, the reduction
to the delta rule at n_h = 1, Householder known answers (β ∈ (0, 2)), and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import RULES, Output
from fastweights.ops.rules import delta_product

RULE = RULES["delta_product"]
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _inputs(B=2, T=7, H=2, K=4, V=3, n_h=2, *, seed=0, grad=True) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = {
        "q": F.normalize(randn(B, T, H, K), dim=-1),
        "k": F.normalize(randn(B, T, H, n_h, K), dim=-1),
        "v": randn(B, T, H, n_h, V),
        "beta": 2 * torch.sigmoid(randn(B, T, H, n_h)),  # the negative-eigenvalue range (0, 2)
        "initial_state": 0.5 * randn(B, H, K, V),
    }
    return {n: t.requires_grad_(grad) for n, t in x.items()}


def _oracle(q, k, v, beta, initial_state, scale=None) -> Output:
    """The token step, scanned by hand (independent of the micro-step forms)."""
    S, outputs = initial_state, []
    q = q * (q.shape[-1] ** -0.5 if scale is None else scale)
    for t in range(q.shape[1]):
        o_t, S = delta_product.step(S, q[:, t], k[:, t], v[:, t], beta[:, t])
        outputs.append(o_t)
    return Output(torch.stack(outputs, 1), S)


def _loss(out: Output) -> Tensor:
    return (out.o * out.o.cos()).sum() + out.state.sin().sum()


def _assert_same(a: Output, b: Output, inputs: dict[str, Tensor]) -> None:
    torch.testing.assert_close(a.o, b.o, **TOL)
    torch.testing.assert_close(a.state, b.state, **TOL)
    names = list(inputs)
    ga = torch.autograd.grad(_loss(a), [inputs[n] for n in names])
    gb = torch.autograd.grad(_loss(b), [inputs[n] for n in names])
    for n, x, y in zip(names, ga, gb, strict=True):
        torch.testing.assert_close(x, y, **TOL, msg=lambda m, n=n: f"d{n}: {m}")


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
@pytest.mark.parametrize(
    ("n_h", "T", "C"), [(2, 1, 4), (2, 7, 4), (3, 9, 4), (2, 13, 16), (3, 6, 5)]
)
def test_forms_equal_the_token_step(impl, n_h, T, C) -> None:
    x = _inputs(T=T, n_h=n_h, seed=T + n_h)
    _assert_same(RULE(**x, impl=impl, chunk_size=C), _oracle(**x), x)


def test_zero_initial_state_and_custom_scale() -> None:
    x = _inputs(T=6, n_h=3, seed=3)
    del x["initial_state"]
    zero = torch.zeros(2, 2, 4, 3, dtype=torch.float64)
    out = RULE(**x, impl="chunk", chunk_size=4, scale=0.7)
    expected = _oracle(**x, initial_state=zero, scale=0.7)
    _assert_same(out, expected, x)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_varlen_equals_each_sequence_alone(impl) -> None:
    lengths = [3, 1, 5]
    x = _inputs(B=1, T=sum(lengths), n_h=2, seed=4, grad=False)
    S0 = 0.5 * torch.randn(3, 2, 4, 3, dtype=torch.float64)
    cu = torch.tensor([0, 3, 4, 9])
    packed = RULE(x["q"], x["k"], x["v"], x["beta"], impl=impl, chunk_size=2,
                  initial_state=S0, cu_seqlens=cu)  # fmt: skip
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True)):
        alone = _oracle(*(x[n][:, a:b] for n in ("q", "k", "v", "beta")), S0[i : i + 1])
        torch.testing.assert_close(packed.o[:, a:b], alone.o, **TOL)
        torch.testing.assert_close(packed.state[i : i + 1], alone.state, **TOL)


def test_segments_carrying_state_equal_one_call() -> None:
    x = _inputs(T=11, n_h=2, seed=5, grad=False)
    full = RULE(**x, impl="chunk", chunk_size=4)
    head = {n: t[:, :5] if n != "initial_state" else t for n, t in x.items()}
    first = RULE(**head, impl="chunk", chunk_size=4)
    tail = {n: t[:, 5:] for n, t in x.items() if n != "initial_state"}
    second = RULE(**tail, impl="chunk", chunk_size=4, initial_state=first.state)
    torch.testing.assert_close(torch.cat([first.o, second.o], 1), full.o, **TOL)
    torch.testing.assert_close(second.state, full.state, **TOL)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_one_step_per_token_is_the_delta_rule(impl) -> None:
    x = _inputs(T=9, n_h=1, seed=6)
    plain = {**x, "k": x["k"][:, :, :, 0], "v": x["v"][:, :, :, 0], "beta": x["beta"][..., 0]}
    _assert_same(RULE(**x, impl=impl, chunk_size=4), RULES["delta"](**plain, impl=impl), x)


def test_n_h_steps_are_n_h_delta_tokens_read_at_the_last() -> None:
    x = _inputs(B=1, T=5, H=1, n_h=3, seed=7, grad=False)
    micro = {n: x[n][0, :, 0].reshape(1, 15, 1, -1) for n in ("k", "v")}
    beta = x["beta"][0, :, 0].reshape(1, 15, 1)
    q = torch.zeros(1, 15, 1, 4, dtype=torch.float64)
    q[:, 2::3] = x["q"]
    expected = RULES["delta"](q, micro["k"], micro["v"], beta, impl="recurrent",
                              scale=0.5, initial_state=x["initial_state"])  # fmt: skip
    out = RULE(**x, impl="chunk", chunk_size=4, scale=0.5)
    torch.testing.assert_close(out.o, expected.o[:, 2::3], **TOL)
    torch.testing.assert_close(out.state, expected.state, **TOL)


def test_transition_is_a_product_of_householder_matrices() -> None:
    # with v = 0 a token multiplies S by (I − β_2 k_2 k_2ᵀ)(I − β_1 k_1 k_1ᵀ)
    x = _inputs(B=1, T=1, H=1, K=4, V=3, n_h=2, seed=8, grad=False)
    x["v"] = torch.zeros_like(x["v"])
    (k1, k2), (b1, b2) = x["k"][0, 0, 0], x["beta"][0, 0, 0]
    eye = torch.eye(4, dtype=torch.float64)
    product = (eye - b2 * torch.outer(k2, k2)) @ (eye - b1 * torch.outer(k1, k1))
    out = RULE(**x, impl="chunk", chunk_size=2)
    torch.testing.assert_close(out.state[0, 0], product @ x["initial_state"][0, 0], **TOL)


def test_beta_two_reflects_and_the_same_reflection_twice_is_the_identity() -> None:
    x = _inputs(B=1, T=3, H=1, n_h=2, seed=9, grad=False)
    x["v"] = torch.zeros_like(x["v"])
    x["k"] = x["k"][:, :, :, :1].expand(-1, -1, -1, 2, -1).contiguous()  # one key, twice
    x["beta"] = torch.full_like(x["beta"], 2.0)  # eigenvalue −1 along k
    out = RULE(**x, impl="chunk", chunk_size=2)
    torch.testing.assert_close(out.state, x["initial_state"], **TOL)


def test_gradcheck_chunk() -> None:
    x = _inputs(B=1, T=3, H=1, K=3, V=2, n_h=2, seed=10)
    names = list(x)

    def fn(*tensors: Tensor) -> tuple[Tensor, Tensor]:
        return tuple(RULE(**dict(zip(names, tensors, strict=True)), impl="chunk", chunk_size=2))

    assert torch.autograd.gradcheck(fn, tuple(x.values()), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"k": torch.zeros(2, 7, 2, 0, 4)}, r"n_h \(k.shape\[3\]\) must be >= 1, got 0"),
        ({"k": torch.zeros(2, 7, 2, 2, 5)}, r"k must have shape \[B, T, H, n_h, K\]"),
        ({"v": torch.zeros(2, 7, 2, 3, 3)}, r"v must have shape \[B, T, H, n_h, V\]"),
        ({"v": torch.zeros(2, 7, 2, 3)}, r"v must have shape \[B, T, H, n_h, V\]"),
        ({"beta": torch.zeros(2, 7, 2)}, r"beta must have shape \[B, T, H, n_h\] = \[2, 7, 2, 2\]"),
        ({"q": torch.zeros(2, 7, 8)}, r"q must be 4-D"),
    ],
)
def test_bad_shapes_name_the_bad_value(change, match) -> None:
    x = _inputs(grad=False)
    x.update({n: t.double() for n, t in change.items()})
    with pytest.raises(ValueError, match=match):
        RULE(**x, impl="chunk")
