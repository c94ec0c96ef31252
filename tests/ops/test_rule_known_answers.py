"""Known answers for the learning rules, from oracles that do not use the rules' own code.

Linear attention ``tril(Q Kᵀ) V``; exact storage by the delta rule with orthonormal keys; the gated
delta rule reducing to the delta rule and to pure decay; Oja's rule on a two-step example worked
out by hand; per-channel rates against scalar rates and against one delta rule per channel.
"""

from __future__ import annotations

from fractions import Fraction as Fr

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES

EXACT = {"rtol": 1e-12, "atol": 1e-12}


def _forms(name: str) -> list[str]:
    return list(RULES[name].forms)


def _heads_first(x: Tensor) -> Tensor:
    return x.transpose(1, 2)  # [B, T, H, D] -> [B, H, T, D]


@pytest.mark.parametrize("form", _forms("sum"))
@pytest.mark.parametrize("scale", [None, 0.5])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero", "S0"])
def test_sum_is_causal_linear_attention(make_inputs, form, scale, with_state) -> None:
    x = make_inputs("sum", T=11, K=5, V=3, initial_state=with_state, seed=10)
    beta = torch.ones_like(x["beta"])
    out = RULES["sum"](
        x["q"],
        x["k"],
        x["v"],
        beta,
        impl=form,
        scale=scale,
        initial_state=x.get("initial_state"),
        chunk_size=4,
    )
    Q = _heads_first(x["q"]) * (5**-0.5 if scale is None else scale)
    K, V = _heads_first(x["k"]), _heads_first(x["v"])
    expected = (Q @ K.mT).tril() @ V  # [B, H, T, V]
    state = K.mT @ V
    if with_state:
        expected = expected + Q @ x["initial_state"]
        state = state + x["initial_state"]
    torch.testing.assert_close(out.o, expected.transpose(1, 2), **EXACT)
    torch.testing.assert_close(out.state, state, **EXACT)


def _orthonormal_rows(n: int, generator: torch.Generator) -> Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=generator))
    return q


@pytest.mark.parametrize("form", _forms("delta"))
@pytest.mark.parametrize("T", [3, 6])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero", "S0"])
def test_delta_with_orthonormal_keys_stores_values_exactly(make_inputs, form, T, with_state):
    B, H, K, V = 2, 2, 6, 4
    x = make_inputs("delta", B=B, T=T, H=H, K=K, V=V, initial_state=with_state, seed=11)
    gen = torch.Generator().manual_seed(11)
    # keys of each (batch, head): T distinct rows of a random orthogonal matrix
    k = torch.stack(
        [torch.stack([_orthonormal_rows(K, gen)[:T] for _ in range(H)], 1) for _ in range(B)]
    )  # [B, T, H, K]
    S = RULES["delta"](
        x["q"],
        k,
        x["v"],
        torch.ones(B, T, H, dtype=torch.float64),
        impl=form,
        initial_state=x.get("initial_state"),
        chunk_size=4,
    ).state
    recalled = (k.unsqueeze(-2) @ S.unsqueeze(1)).squeeze(-2)  # S.mT @ k_t: [B, T, H, V]
    torch.testing.assert_close(recalled, x["v"], **EXACT)
    assert not torch.allclose(S, torch.zeros_like(S))


@pytest.mark.parametrize("form", sorted(set(_forms("gated_delta")) & set(_forms("delta"))))
@pytest.mark.parametrize("per_channel", [False, True], ids=["beta", "vbeta"])
def test_gated_delta_with_zero_gate_is_delta(make_inputs, form, per_channel) -> None:
    x = make_inputs("delta", T=13, per_channel=per_channel, seed=12)
    g = torch.zeros_like(x["q"][..., 0])  # [B, T, H]
    gated = RULES["gated_delta"](**x, g=g, impl=form, chunk_size=4)
    plain = RULES["delta"](**x, impl=form, chunk_size=4)
    torch.testing.assert_close(gated.o, plain.o, **EXACT)
    torch.testing.assert_close(gated.state, plain.state, **EXACT)


@pytest.mark.parametrize("form", _forms("gated_delta"))
def test_gated_delta_with_zero_rate_only_decays(make_inputs, form) -> None:
    x = make_inputs("gated_delta", T=13, K=4, V=3, seed=13)
    beta = torch.zeros_like(x["beta"])
    out = RULES["gated_delta"](
        x["q"],
        x["k"],
        x["v"],
        beta,
        g=x["g"],
        impl=form,
        scale=1.0,
        initial_state=x["initial_state"],
        chunk_size=4,
    )
    S0 = x["initial_state"]  # [B, H, K, V]
    decay = x["g"].cumsum(1).exp()  # exp(Σ_{s≤t} g_s): [B, T, H]
    torch.testing.assert_close(out.state, S0 * decay[:, -1, :, None, None], **EXACT)
    read = (x["q"].unsqueeze(-2) @ S0.unsqueeze(1)).squeeze(-2)  # S0ᵀ q_t: [B, T, H, V]
    torch.testing.assert_close(out.o, read * decay.unsqueeze(-1), **EXACT)


def test_oja_two_steps_by_hand() -> None:
    # K = 2, V = 2, S_0 = 0, β = 1/2, scale 1.   S_t = S_{t-1} + β (k_t − S_{t-1} v_t) v_tᵀ
    # t = 1: k = [1, 2], v = [1, 0]:  S_1 = ½ [1, 2]ᵀ[1, 0] = [[1/2, 0], [1, 0]]
    #        q = [1, 1]:              o_1 = S_1ᵀ q = [3/2, 0]
    # t = 2: k = [0, 1], v = [1, 1]:  S_1 v = [1/2, 1],  k − S_1 v = [−1/2, 0]
    #        S_2 = S_1 + ½ [−1/2, 0]ᵀ[1, 1] = [[1/4, −1/4], [1, 0]]
    #        q = [2, −1]:             o_2 = S_2ᵀ q = [2/4 − 1, −2/4 − 0] = [−1/2, −1/2]
    # (the delta rule would give S_2 = [[1/2, 0], [1, 1/2]] here: the example tells them apart)
    def t(rows: list) -> Tensor:
        return torch.tensor([[float(Fr(x)) for x in row] for row in rows], dtype=torch.float64)

    q = t([[1, 1], [2, -1]]).view(1, 2, 1, 2)
    k = t([[1, 2], [0, 1]]).view(1, 2, 1, 2)
    v = t([[1, 0], [1, 1]]).view(1, 2, 1, 2)
    beta = torch.full((1, 2, 1), 0.5, dtype=torch.float64)
    for form in _forms("oja"):
        out = RULES["oja"](q, k, v, beta, impl=form, scale=1.0)
        expected_o = t([["3/2", 0], ["-1/2", "-1/2"]]).view(1, 2, 1, 2)
        expected_S = t([["1/4", "-1/4"], [1, 0]]).view(1, 1, 2, 2)
        torch.testing.assert_close(out.o, expected_o, rtol=0, atol=1e-15)
        torch.testing.assert_close(out.state, expected_S, rtol=0, atol=1e-15)


PER_CHANNEL = [
    (name, form) for name, rule in RULES.items() if rule.per_channel_beta for form in rule.forms
]


@pytest.mark.parametrize(("name", "form"), PER_CHANNEL)
def test_per_channel_beta_constant_along_v_is_scalar_beta(make_inputs, name, form) -> None:
    x = make_inputs(name, T=13, V=4, seed=14)
    scalar = RULES[name](**x, impl=form, chunk_size=4)
    x["beta"] = x["beta"].unsqueeze(-1).expand(-1, -1, -1, 4)
    per_channel = RULES[name](**x, impl=form, chunk_size=4)
    torch.testing.assert_close(per_channel.o, scalar.o, **EXACT)
    torch.testing.assert_close(per_channel.state, scalar.state, **EXACT)


@pytest.mark.parametrize(
    ("name", "form"), [(n, f) for n, f in PER_CHANNEL if n in ("delta", "gated_delta")]
)
def test_per_channel_beta_is_one_delta_rule_per_channel(make_inputs, name, form) -> None:
    V = 4
    x = make_inputs(name, T=13, V=V, per_channel=True, seed=15)
    out = RULES[name](**x, impl=form, chunk_size=4)
    assert not torch.allclose(x["beta"][..., 0], x["beta"][..., 1])
    for j in range(V):
        channel = {
            **x,
            "v": x["v"][..., j : j + 1],
            "beta": x["beta"][..., j],
            "initial_state": x["initial_state"][..., j : j + 1],
        }
        alone = RULES[name](**channel, impl="recurrent")
        torch.testing.assert_close(out.o[..., j : j + 1], alone.o, **EXACT)
        torch.testing.assert_close(out.state[..., j : j + 1], alone.state, **EXACT)
