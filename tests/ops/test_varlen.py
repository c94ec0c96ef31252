"""Variable-length batches: packed ``[1, ΣT, H, D]`` with ``cu_seqlens`` == each sequence alone.

Outputs, per-sequence final states ``[N, H, K, V]`` and the gradients of every input (the
per-sequence initial states included), for every rule and form.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch

from fastweights.ops import RULES, Output

LENGTHS = [1, 7, 16, 3]  # with chunk size 4: a lone token, partial chunks, whole chunks
CASES = [
    pytest.param(name, form, per_channel, id=f"{name}-{form}-{'vbeta' if per_channel else 'beta'}")
    for name, rule in RULES.items()
    for form in rule.forms
    for per_channel in ((False, True) if rule.per_channel_beta else (False,))
]


@pytest.mark.parametrize(("name", "form", "per_channel"), CASES)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=["int32", "int64"])
@pytest.mark.parametrize("with_state", [True, False], ids=["S0", "zero"])
def test_packed_equals_each_sequence_alone(
    make_inputs, nonlinear_loss, name, form, per_channel, index_dtype, with_state
) -> None:
    N, total = len(LENGTHS), sum(LENGTHS)
    # B = N draws the per-sequence initial states [N, H, K, V]; the tokens are packed from B = 1
    x = make_inputs(name, B=N, T=total, per_channel=per_channel, seed=20, initial_state=with_state)
    packed = {
        n: (t if n == "initial_state" else t[:1]).clone().requires_grad_() for n, t in x.items()
    }
    cu_seqlens = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=index_dtype)
    rule = RULES[name]

    out = rule(**packed, impl=form, chunk_size=4, cu_seqlens=cu_seqlens)
    assert out.o.shape == (1, total, 2, 3)
    assert out.state.shape[:3] == (N, 2, 4)  # [N, H, K, V'] (titans: V' = 2V, with momentum)

    outputs, states = [], []
    for i, (t0, t1) in enumerate(pairwise(cu_seqlens.tolist())):
        alone = {
            n: t[i : i + 1] if n == "initial_state" else t[:, t0:t1] for n, t in packed.items()
        }
        o, S = rule(**alone, impl=form, chunk_size=4)
        outputs.append(o)
        states.append(S)
    expected = Output(torch.cat(outputs, dim=1), torch.cat(states))
    assert out.state.shape == expected.state.shape

    torch.testing.assert_close(out.o, expected.o, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.state, expected.state, rtol=1e-12, atol=1e-12)
    leaves = list(packed.values())
    grads = torch.autograd.grad(nonlinear_loss(out), leaves)
    expected_grads = torch.autograd.grad(nonlinear_loss(expected), leaves)
    for n, actual, wanted in zip(packed, grads, expected_grads, strict=True):
        torch.testing.assert_close(
            actual, wanted, rtol=1e-12, atol=1e-12, msg=lambda m, n=n: f"d{n}: {m}"
        )


@pytest.mark.parametrize(("name", "form"), [(n, f) for n, r in RULES.items() for f in r.forms])
def test_packing_keeps_sequences_apart(make_inputs, name, form) -> None:
    # discriminates: one long sequence over the same tokens carries state across the boundaries
    x = make_inputs(name, B=1, T=sum(LENGTHS), initial_state=False, seed=21)
    cu_seqlens = torch.tensor([0, 1, 8, 24, 27])
    packed = RULES[name](**x, impl=form, chunk_size=4, cu_seqlens=cu_seqlens)
    joined = RULES[name](**x, impl=form, chunk_size=4)
    torch.testing.assert_close(packed.o[:, :1], joined.o[:, :1], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(packed.o[:, 1:], joined.o[:, 1:])
    assert not torch.allclose(packed.state[-1], joined.state[0])
