"""Replays of one layer's recurrence on what hooks captured: the fast weights at every step.

A layer runs its fast form (chunkwise, fused) and keeps only the final state. The recording
instead re-runs the layer's own one-token ``step`` — ``RULES[name].step`` for a rule, the cell's
``step`` for a cell — from the layer's initial state on the captured inputs of one sample, and
keeps the state after each kept step. Each replay also returns the largest difference between
its per-step outputs and the outputs the layer computed (captured at the layer's output map):
near zero is the proof that the replay is the layer's computation.

- rule: ``S_t`` with ``o_t = S_tᵀ (scale · q_t)``, the layer's query scale (``RuleLayer.scale``);
- cell: every state field after each step, and the cell's main matrix (``cell_matrices``);
- softmax attention: ``A = softmax(q kᵀ / √D + causal mask)`` per head, ``o = A v``; for a
  ``RotaryAttention`` (RoPE) with ``q, k`` rotated at positions ``0 .. T − 1`` first
  (``fastweights.nn.rotary.apply_rotary``), as the layer does from an empty cache;
- LSTM: ``i, f, g, o`` gates, ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)`` (``nn.LSTM``).

On a GPU, cuDNN runs ``nn.LSTM`` in TF32 unless ``torch.backends.cudnn.allow_tf32 = False``: the
LSTM's replay (in float32) then differs from it by about 1e-4, the rounding of TF32.

Inputs arrive as ``[1, T, ...]`` (the kept sample); results are ``[T', H', ...]`` float32 tensors.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from fastweights.analysis.cell_matrices import cell_matrix
from fastweights.nn import CellLayer, LSTMMixer, RuleInputs, RuleLayer, SoftmaxAttention
from fastweights.nn.rotary import apply_rotary
from fastweights.nn.transformer import RotaryAttention


class Replay(NamedTuple):
    """A replayed layer: the ``LayerRecording`` fields it fills, and the replay's error."""

    inputs: dict[str, Tensor]
    weights: Tensor | None
    attention: Tensor | None
    output: Tensor
    state: dict[str, Tensor]
    meta: dict[str, Any]


def _error(replayed: Tensor, hooked: Tensor) -> float:
    return float((replayed - hooked.to(replayed.dtype)).abs().max()) if replayed.numel() else 0.0


def replay_rule(
    mixer: RuleLayer, captured: RuleInputs, hooked: Tensor, steps: Tensor, heads: list[int]
) -> Replay:
    """``captured``: the projection's output ``[1, T, H, ·]``; ``hooked``: ``o`` ``[1, T, H·V]``."""
    pick = lambda x: x[:, :, heads].float()  # noqa: E731  [1, T, H', ...]
    q, k, v, beta = (pick(x) for x in captured[:4])
    gates = {name: pick(g) for name, g in captured.gates.items()}
    T, V = q.shape[1], v.shape[-1]
    S = q.new_zeros(1, len(heads), q.shape[-1], V)  # the layer's initial state: zeros
    keep = set(steps.tolist())
    weights, outputs = [], []
    for t in range(T):
        o_t, S = mixer.rule.step(S, q[:, t] * mixer.scale, k[:, t], v[:, t], beta[:, t],
                                 **{name: g[:, t] for name, g in gates.items()})  # fmt: skip
        outputs.append(o_t[0])
        if t in keep:
            weights.append(S[0].mT)  # W_t = S_tᵀ: [H', V, K]
    o = torch.stack(outputs)  # [T, H', V]
    error = _error(o, hooked[0].view(T, -1, V)[:, heads])
    inputs = {"q": q[0], "k": k[0], "v": v[0], "beta": beta[0]} | {
        n: g[0] for n, g in gates.items()
    }
    meta = {"rule": mixer.rule.name, "output": "rule output o [T', H', V]", "replay_error": error}
    meta |= {"weights": "W_t = S_tᵀ after step t: [T', H', V, K]", "scale": mixer.scale}
    return Replay(
        {name: x[steps] for name, x in inputs.items()}, torch.stack(weights), None, o[steps], {},
        meta,
    )  # fmt: skip


def _map(tree: Any, fn: Any) -> Any:
    if tree is None or isinstance(tree, Tensor):
        return None if tree is None else fn(tree)
    return type(tree)(*(_map(field, fn) for field in tree))


def _fields(tree: Any, default: str) -> dict[str, Tensor]:
    """A tensor or NamedTuple of tensors -> ``{name: tensor}`` (a lone tensor is ``default``)."""
    return (
        {default: tree} if isinstance(tree, Tensor) else dict(zip(tree._fields, tree, strict=True))
    )


def replay_cell(
    mixer: CellLayer, captured: Any, hooked: Tensor, steps: Tensor, heads: list[int]
) -> Replay:
    """``captured``: the cell's inputs ``[1, T, H, ...]``; ``hooked``: ``y`` ``[1, T, H·D]``.

    All heads of the sample are replayed (slow parameters may couple them, e.g. the RDN's
    ``R [H, D, D]``); only the kept heads are stored.
    """
    captured = _map(captured, lambda x: x.float() if x.is_floating_point() else x)
    state = _map(mixer.fresh_state(1), lambda x: x.float())
    params = mixer.cell_params()
    T = next(iter(_fields(captured, "x").values())).shape[1]
    keep = set(steps.tolist())
    outputs, kept = [], []
    for t in range(T):
        y_t, state = mixer.cell.step(state, _map(captured, lambda x, t=t: x[:, t]), params)
        outputs.append(y_t[0])
        if t in keep:
            kept.append({name: s[0, heads] for name, s in _fields(state, "S").items()})
    y = torch.stack(outputs)  # [T, H, D]
    error = _error(y, hooked[0].view(T, y.shape[1], -1))
    stacked = {name: torch.stack([s[name] for s in kept]) for name in kept[0]}  # [T', H', ...]
    inputs = {name: x[0, :, heads][steps] for name, x in _fields(captured, "x").items()}
    sizes = {name: x.shape[-1] for name, x in inputs.items()} | {"out": y.shape[-1]}
    weights, meta = cell_matrix(mixer.cell.name, stacked, sizes)
    meta |= {
        "cell": mixer.cell.name,
        "output": "cell output y [T', H', D]",
        "replay_error": error,
        "state": "each field of the cell's State after step t, library layout (S = Wᵀ)",
    }
    return Replay(inputs, weights, None, y[steps][:, heads], stacked, meta)


def replay_attention(
    mixer: SoftmaxAttention | RotaryAttention,
    qkv: Tensor,
    hooked: Tensor,
    steps: Tensor,
    heads: list[int],
) -> Replay:
    """``qkv``: the ``qkv`` linear map's output (a ``RotaryAttention``'s ``q_proj, k_proj,
    v_proj`` outputs, concatenated) ``[1, T, 3·d]``; ``hooked``: ``o`` ``[1, T, d]``."""
    T, H, D = qkv.shape[1], mixer.n_heads, mixer.d_head
    q, k, v = qkv[0].float().view(T, 3, H, D)[:, :, heads].unbind(1)  # [T, H', D]
    rope = isinstance(mixer, RotaryAttention)
    if rope:  # rotated at positions 0 .. T − 1, over [H', T, D]
        q, k = (apply_rotary(x.transpose(0, 1), 0, mixer.rope_theta).transpose(0, 1)
                for x in (q, k))  # fmt: skip
    scores = torch.einsum("thd,shd->hts", q, k) * D**-0.5
    causal = torch.ones(T, T, dtype=torch.bool, device=scores.device).tril()
    A = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)  # [H', T, T]
    o = torch.einsum("hts,shd->thd", A, v)
    error = _error(o, hooked[0].float().view(T, H, D)[:, heads])
    meta = {"output": "attention output o [T', H', D]", "replay_error": error,
            "attention": "softmax(q kᵀ/√D), causal: [H', T (query), T (key)]"}  # fmt: skip
    if rope:
        meta |= {
            "rope_theta": mixer.rope_theta,
            "inputs": "q, k rotated (RoPE) at positions 0 .. T − 1, as the scores read them",
        }
    return Replay({"q": q[steps], "k": k[steps], "v": v[steps]}, None, A, o[steps], {}, meta)


def replay_lstm(mixer: LSTMMixer, x: Tensor, hooked: Tensor, steps: Tensor) -> Replay:
    """``x``: the LSTM's input ``[1, T, d]``; ``hooked``: its output ``[1, T, d]``."""
    lstm = mixer.lstm
    x = x[0].float()
    h = c = x.new_zeros(lstm.hidden_size)
    names = ("i", "f", "g", "o")
    record: dict[str, list[Tensor]] = {name: [] for name in ("h", "c", *names)}
    for x_t in x:
        pre = lstm.weight_ih_l0 @ x_t + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
        i, f, g, o = pre.chunk(4)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        for name, value in zip(("h", "c", *names), (h, c, i, f, g, o), strict=True):
            record[name].append(value)
    state = {name: torch.stack(values)[steps].unsqueeze(1) for name, values in record.items()}
    y = torch.stack(record["h"])  # [T, d]
    meta = {
        "output": "layer output y = h [T', d_model]",
        "replay_error": _error(y, hooked[0]),
        "heads": "an LSTM has no heads: one pseudo-head 0",
        "state": "h, c and the gates",
    }
    return Replay({"x": x[steps].unsqueeze(1)}, None, None, y[steps], state, meta)
