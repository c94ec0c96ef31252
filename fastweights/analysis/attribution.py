"""Gradient analysis and the equivalent attention matrix of a linear fast weight programmer.

- ``input_attribution``: ``‖∂o_t/∂x_s‖`` for ``s = 0 .. T−1`` at a chosen output step ``t``, by
  autograd to the input embeddings ``x_s = embed(token_s)`` (a causal model gives exactly 0 for
  ``s > t``). ``output=c`` attributes the logit ``c``; ``output=None`` the whole output vector
  (the Frobenius norm of the Jacobian block ``∂o_t/∂x_s``).
- ``weight_gradient``: ``∂loss/∂W_t`` for a rule layer: the layer's forward is re-run as the scan
  over its rule's ``step``, with a zero leaf added to ``S_t`` after each chosen step, before the
  read ``o_t = S_tᵀ q_t`` (every rule of the library reads after writing).
- ``equivalent_attention``: for a rule whose output is linear in the values (sum, delta, gated
  delta), ``o_t = Σ_{s≤t} A[t, s] v_s`` with ``A = ∂o_t/∂v_s`` the same for every value channel:

      sum:          A = tril(Q Kᵀ) diag(β)
      delta:        A = tril(Q Kᵀ) (I + stril(diag(β) K Kᵀ))⁻¹ diag(β)       (WY/UT form)
      gated delta:  A = tril(Q Kᵀ ⊙ Γ) (I + stril(diag(β) (K Kᵀ ⊙ Γ)))⁻¹ diag(β),
                    Γ[t, s] = exp(G_t − G_s),  G = cumsum(g)

  (``stril``: strictly lower triangular; zero initial state; Schlag et al. 2021,
  arXiv:2102.11174; Yang et al. 2024, arXiv:2406.06484). Oja's rule is not linear in ``v``.
  ``layer_attention`` gives ``[H', T, T]`` for a recorded rule layer, or softmax attention's own
  matrix, so the two compare directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fastweights.analysis.measures import consecutive
from fastweights.analysis.record import as_batch, kept_steps
from fastweights.analysis.recording import LayerRecording
from fastweights.models.model import FWPModel
from fastweights.nn import RuleLayer

LINEAR_IN_V = ("sum", "delta", "gated_delta")


def _one_sample(model: FWPModel, inputs: Tensor, sample: int) -> Tensor:
    if not isinstance(model, FWPModel):
        raise TypeError(f"model must be an FWPModel, got {type(model).__name__}")
    x = as_batch(model, inputs)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < x.shape[0]:
        raise ValueError(f"sample must be an index in 0..{x.shape[0] - 1}, got {sample!r}")
    return x[sample : sample + 1]


def input_attribution(
    model: FWPModel,
    inputs: Tensor,
    t: int | None = None,
    *,
    sample: int = 0,
    output: int | None = None,
) -> np.ndarray:
    """``‖∂o_t/∂x_s‖`` for every input step s: ``[T]`` (``t`` defaults to the last step; pooled
    models have one output and take ``t=None``)."""
    x = _one_sample(model, inputs, sample)
    T = x.shape[1]
    leaf: list[Tensor] = []

    def as_leaf(module: torch.nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor:
        leaf.append(out.detach().requires_grad_())
        return leaf[0]

    handle = model.embed.register_forward_hook(as_leaf)
    try:
        with torch.enable_grad():
            logits, _ = model(x)
    finally:
        handle.remove()
    if model.config.pool != "none":
        if t is not None:
            raise ValueError(f"a pooled model (pool={model.config.pool!r}) has no step t; got {t}")
        o = logits[0]
    else:
        t = T - 1 if t is None else t
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < T:
            raise ValueError(f"t must be a step in 0..{T - 1}, got {t!r}")
        o = logits[0, t]
    units = range(o.shape[0]) if output is None else [output]
    if output is not None and not 0 <= output < o.shape[0]:
        raise ValueError(f"output must be a unit in 0..{o.shape[0] - 1}, got {output}")
    squared = torch.zeros(T, dtype=torch.float64)
    for c in units:
        (grad,) = torch.autograd.grad(o[c], leaf[0], retain_graph=True)
        squared += grad[0].detach().cpu().double().square().sum(-1)  # [T]
    return squared.sqrt().numpy()


def weight_gradient(
    model: FWPModel,
    inputs: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    layer: int,
    *,
    sample: int = 0,
    every: int = 1,
) -> np.ndarray:
    """``∂loss/∂W_t`` ``[T', H, V, K]`` at the kept steps of rule layer ``layer``.

    ``loss_fn`` maps the logits of the one sample (``[1, T, n_out]`` or ``[1, n_out]``) to a
    scalar. ``W_t = S_tᵀ`` is the fast weight after step t, as the read at step t and every later
    step see it.
    """
    x = _one_sample(model, inputs, sample)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(model.blocks):
        raise ValueError(
            f"layer must be a block index in 0..{len(model.blocks) - 1}, got {layer!r}"
        )
    mixer = model.blocks[layer].mixer
    if not isinstance(mixer, RuleLayer):
        raise ValueError(f"weight_gradient needs a rule layer, block {layer} holds "
                         f"{type(mixer).__name__}")  # fmt: skip
    steps = kept_steps(x.shape[1], every).tolist()
    leaf: list[Tensor] = []

    def scan(module: RuleLayer, args: tuple[Any, ...], out: Any) -> tuple[Tensor, Tensor]:
        seen = module.project(args[0])
        q, k, v, beta = (z.float() for z in seen[:4])
        q = q * module.scale  # what the rule reads with: o_t = S_tᵀ (scale · q_t)
        gates = {name: g.float() for name, g in seen.gates.items()}
        S = q.new_zeros(1, q.shape[2], q.shape[3], v.shape[3])  # [1, H, K, V]
        leaf.append(S.new_zeros(len(steps), *S.shape[1:]).requires_grad_())
        kept = {t: i for i, t in enumerate(steps)}
        outputs = []
        for t in range(q.shape[1]):
            o_t, S = module.rule.step(S, q[:, t], k[:, t], v[:, t], beta[:, t],
                                      **{name: g[:, t] for name, g in gates.items()})  # fmt: skip
            if t in kept:
                read = (q[:, t].unsqueeze(-2) @ S).squeeze(-2)
                assert torch.allclose(read, o_t, atol=1e-5), "the rule must read after writing"
                S = S + leaf[0][kept[t]]
                o_t = (q[:, t].unsqueeze(-2) @ S).squeeze(-2)  # o_t = S_tᵀ q_t
            outputs.append(o_t)
        o = torch.stack(outputs, dim=1).to(args[0].dtype)  # [1, T, H, V]
        return module.read_out(o.flatten(2), args[0]), S

    handle = mixer.register_forward_hook(scan)
    try:
        with torch.enable_grad():
            logits, _ = model(x)
            loss = loss_fn(logits)
    finally:
        handle.remove()
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar tensor, got {loss!r}")
    (grad,) = torch.autograd.grad(loss.squeeze(), leaf[0])
    return grad.mT.detach().cpu().numpy()  # ∂/∂S_t -> ∂/∂W_t: [T', H, V, K]


def _tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x.detach().cpu().double()
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from error


def equivalent_attention(rule: str, q: Any, k: Any, beta: Any, g: Any | None = None) -> np.ndarray:
    """``A [H, T, T]`` with ``o_t = Σ_s A[h, t, s] v_s`` (zero initial state, query scale 1).

    ``q, k [T, H, K]``, ``beta [T, H]`` (one rate per head), ``g [T, H]`` for ``gated_delta``.
    """
    if rule not in LINEAR_IN_V:
        raise ValueError(f"the output of rule {rule!r} is not linear in v for fixed q, k, β; "
                         f"equivalent attention is defined for {LINEAR_IN_V}")  # fmt: skip
    q, k, beta = _tensor(q, "q"), _tensor(k, "k"), _tensor(beta, "beta")
    if q.dim() != 3 or k.shape != q.shape or beta.shape != q.shape[:2]:
        raise ValueError(f"expected q, k [T, H, K] and beta [T, H] (one rate per head), got "
                         f"{list(q.shape)}, {list(k.shape)}, {list(beta.shape)}")  # fmt: skip
    if (g is None) != (rule != "gated_delta"):
        raise ValueError(f"rule {rule!r} {'needs' if rule == 'gated_delta' else 'takes no'} g")
    Q, K, b = q.transpose(0, 1), k.transpose(0, 1), beta.T  # [H, T, K], [H, T]
    T = Q.shape[1]
    scores = Q @ K.mT  # [H, T, T]
    keys = K @ K.mT
    if g is not None:
        g = _tensor(g, "g")
        if g.shape != beta.shape:
            raise ValueError(f"g must be [T, H] = {list(beta.shape)}, got {list(g.shape)}")
        G = g.T.cumsum(-1)  # [H, T]
        decay = torch.exp((G[:, :, None] - G[:, None, :]).tril())  # Γ[t, s], t ≥ s
        scores, keys = scores * decay, keys * decay
    scores = scores.tril()
    if rule == "sum":
        return (scores * b[:, None, :]).numpy()
    eye = torch.eye(T, dtype=Q.dtype)
    L = eye + (b[:, :, None] * keys).tril(-1)  # I + stril(diag(β) K Kᵀ): unit lower triangular
    # A = scores L⁻¹ diag(β), i.e. Aᵀ = diag(β) L⁻ᵀ scoresᵀ: one triangular solve
    inv = torch.linalg.solve_triangular(L, eye.expand_as(L), upper=False, unitriangular=True)
    return (scores @ inv * b[:, None, :]).numpy()


def layer_attention(layer: LayerRecording) -> np.ndarray:
    """``[H', T, T]``: softmax attention's matrix, or a linear rule layer's equivalent one."""
    if layer.kind == "attention":
        return layer.attention
    if layer.kind != "rule":
        raise ValueError(f"layer {layer.layer} ({layer.mixer}) is a {layer.kind}: no attention")
    if not consecutive(layer):
        raise ValueError("the equivalent attention needs every step: record with every=1")
    inputs = layer.inputs
    q = inputs["q"] * layer.meta.get("scale", 1.0)  # the layer's query scale (RuleLayer.scale)
    return equivalent_attention(layer.meta["rule"], q, inputs["k"], inputs["beta"],
                                inputs.get("g"))  # fmt: skip
