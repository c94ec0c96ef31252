"""Gradients to inputs and to fast weights; the equivalent attention of linear FWPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastweights.analysis import record
from fastweights.analysis.attribution import (
    equivalent_attention,
    input_attribution,
    layer_attention,
    weight_gradient,
)
from fastweights.ops import RULES


def _rule_inputs(T: int = 9, H: int = 2, K: int = 4, V: int = 3):
    g = torch.Generator().manual_seed(0)
    randn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, v = randn(1, T, H, K), randn(1, T, H, V)
    k = torch.nn.functional.normalize(randn(1, T, H, K), dim=-1)
    beta = torch.rand(1, T, H, generator=g, dtype=torch.float64)
    gate = -torch.rand(1, T, H, generator=g, dtype=torch.float64)  # log-decay ≤ 0
    return q, k, v, beta, gate


@pytest.mark.parametrize("rule", ["sum", "delta", "gated_delta"])
def test_equivalent_attention_is_exact(rule):
    q, k, v, beta, gate = _rule_inputs()
    gates = {"g": gate} if rule == "gated_delta" else {}
    o, _ = RULES[rule](q, k, v, beta, impl="recurrent", scale=1.0, **gates)
    A = equivalent_attention(rule, q[0], k[0], beta[0], gate[0] if gates else None)
    T = q.shape[1]
    assert A.shape == (2, T, T) and np.all(np.triu(A, 1) == 0)  # causal
    # it reconstructs the rule's output: o_t = Σ_s A[t, s] v_s
    np.testing.assert_allclose(np.einsum("hts,shv->thv", A, v[0].numpy()), o[0].numpy(), atol=1e-12)
    # and it is ∂o_t/∂v_s: probing with v_s = e_s (T value channels) reads it off the rule itself
    probe = torch.eye(T, dtype=torch.float64)[None, :, None, :].expand(1, T, 2, T)
    o_probe, _ = RULES[rule](q, k, probe, beta, impl="recurrent", scale=1.0, **gates)
    np.testing.assert_allclose(o_probe[0].permute(1, 0, 2).numpy(), A, atol=1e-12)


def test_sum_rule_attention_by_hand():
    q = np.array([[[1.0, 0.0]], [[1.0, 1.0]]])  # [T=2, H=1, K=2]
    k = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    beta = np.array([[0.5], [2.0]])
    np.testing.assert_allclose(equivalent_attention("sum", q, k, beta)[0], [[0.5, 0.0], [0.5, 2.0]])
    # the delta rule with orthogonal keys corrects nothing: the same matrix
    np.testing.assert_allclose(
        equivalent_attention("delta", q, k, beta), [[[0.5, 0.0], [0.5, 2.0]]]
    )


def test_equivalent_attention_errors():
    q, k, _, beta, gate = (x[0] for x in _rule_inputs())
    with pytest.raises(ValueError, match="not linear in v"):
        equivalent_attention("oja", q, k, beta)
    with pytest.raises(ValueError, match="one rate per head"):
        equivalent_attention("delta", q, k, beta[..., None].expand(-1, -1, 3))
    with pytest.raises(ValueError, match="needs g"):
        equivalent_attention("gated_delta", q, k, beta)
    with pytest.raises(ValueError, match="takes no g"):
        equivalent_attention("delta", q, k, beta, gate)


@pytest.mark.parametrize("mixer", ["delta", "delta_conv", "gated_delta", "dpfp", "softmax"])
def test_layer_attention_reads_the_recorded_output(mixer, make_model, make_tokens):
    layer = record(make_model(mixer), make_tokens(1, 6)).layers[1]
    A = layer_attention(layer)
    assert A.shape == (2, 6, 6)
    np.testing.assert_allclose(np.einsum("hts,shv->thv", A, layer.inputs["v"]), layer.output,
                               atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="every=1"):
        layer_attention(record(make_model("delta"), make_tokens(1, 6), every=2).layers[0])


@pytest.mark.parametrize("mixer", ["delta", "delta_conv"])
def test_input_attribution_is_causal(mixer, make_model, make_tokens):
    model, x = make_model(mixer), make_tokens(2, 6)
    full = input_attribution(model, x, t=3, sample=1)
    assert full.shape == (6,) and np.all(full[4:] == 0) and np.all(full[:4] > 0)
    # the whole output's norm is the root of the sum over the units' squared norms
    per_unit = [input_attribution(model, x, t=3, sample=1, output=c) for c in range(5)]
    np.testing.assert_allclose(np.sqrt(np.square(per_unit).sum(0)), full, rtol=1e-6)
    # autograd on the one sample equals autograd through the batch
    emb = model.embed(x).detach().requires_grad_()
    h = emb
    for block in model.blocks:
        h, _ = block(h)
    model.head(model.norm(h))[1, 3, 2].backward()
    np.testing.assert_allclose(per_unit[2], emb.grad[1].norm(dim=-1).numpy(), rtol=1e-5)


def test_input_attribution_of_a_pooled_model(make_model, make_tokens):
    model = make_model("sum", pool="last", n_out=3)
    assert input_attribution(model, make_tokens(1, 4)).shape == (4,)
    with pytest.raises(ValueError, match="pooled"):
        input_attribution(model, make_tokens(1, 4), t=1)
    with pytest.raises(ValueError, match="t must be"):
        input_attribution(make_model("sum"), make_tokens(1, 4), t=4)


def test_weight_gradient_of_the_sum_rule(make_model, make_tokens):
    # o_s = W_s q_s and W_s = W_t + (later writes) for s ≥ t: ∂loss/∂W_t = Σ_{s≥t} ∂loss/∂o_s q_sᵀ
    model, x = make_model("sum"), make_tokens(1, 5)
    loss_fn = lambda logits: logits[0, :, 1].square().sum()  # noqa: E731
    mixer = model.blocks[1].mixer
    seen = []

    def keep_grad(module: torch.nn.Module, args: tuple[torch.Tensor]) -> None:
        args[0].retain_grad()
        seen.append(args[0])

    handle = mixer.out.register_forward_pre_hook(keep_grad)
    logits, _ = model(x)
    loss_fn(logits).backward()
    handle.remove()
    g_o = seen[0].grad[0].view(5, 2, 4).double()  # [T, H, V]
    q = torch.as_tensor(record(model, x).layers[1].inputs["q"]).double()  # [T, H, K]
    outer = torch.einsum("thv,thk->thvk", g_o, q)
    expected = outer.flip(0).cumsum(0).flip(0)  # Σ over s ≥ t
    grad = weight_gradient(model, x, loss_fn, layer=1)
    assert grad.shape == (5, 2, 4, 4)
    np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-4, atol=1e-6)
    kept = weight_gradient(model, x, loss_fn, layer=1, every=2)
    np.testing.assert_allclose(kept, grad[[0, 2, 4]], rtol=1e-4, atol=1e-6)


def test_weight_gradient_errors(make_model, make_tokens):
    x = make_tokens(1, 4)
    with pytest.raises(ValueError, match="rule layer"):
        weight_gradient(make_model("srwm"), x, lambda logits: logits.sum(), layer=0)
    with pytest.raises(ValueError, match="block index"):
        weight_gradient(make_model("delta"), x, lambda logits: logits.sum(), layer=2)
    with pytest.raises(ValueError, match="scalar"):
        weight_gradient(make_model("delta"), x, lambda logits: logits, layer=0)
