"""An independent transcription of fla 0.6's DeltaNet / Gated DeltaNet equations, from its source.

Written from ``fla/layers/delta_net.py``, ``fla/layers/gated_deltanet.py``,
``fla/ops/gated_delta_rule/naive.py`` (the token loop), ``fla/ops/gated_delta_rule/gate.py``,
``fla/modules/l2norm.py``, ``fla/modules/norm`` (RMSNorm, the gated RMSNorm) and
``fla/models/delta_net/modeling_delta_net.py`` (the block): plain tensor code over fla-named
weights, sharing nothing with ``fastweights``. fla's own forward runs only on a GPU; this is what
the tests hold our layers to on the CPU, in float64.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def _short_conv(x: Tensor, w: dict[str, Tensor], name: str, silu: bool) -> Tensor:
    """fla's ShortConvolution: causal depthwise conv over time (left zero padding)."""
    weight = w[f"{name}.weight"]  # [C, 1, K]
    taps = weight.shape[-1]
    y = F.conv1d(F.pad(x.transpose(1, 2), (taps - 1, 0)), weight, w.get(f"{name}.bias"),
                 groups=x.shape[-1]).transpose(1, 2)  # fmt: skip
    return F.silu(y) if silu else y


def _l2norm(x: Tensor) -> Tensor:
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-6)


def _rms(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def _gated_delta_loop(q, k, v, beta, g, scale):  # [B, T, H, *]: naive_recurrent_gated_delta_rule
    B, T, H, K = k.shape
    h = q.new_zeros(B, H, K, v.shape[-1])
    o = []
    for i in range(T):
        h = h * g[:, i].exp()[..., None, None]
        v_i = (v[:, i] - (h * k[:, i][..., None]).sum(-2)) * beta[:, i][..., None]
        h = h + k[:, i][..., None] * v_i[..., None, :]
        o.append(torch.einsum("bhd,bhdm->bhm", q[:, i] * scale, h))
    return torch.stack(o, 1), h


def _output(w: dict[str, Tensor], x: Tensor, o: Tensor, cfg: dict[str, Any]) -> Tensor:
    if cfg.get("use_gate"):
        gate = (x @ w["g_proj.weight"].T).view(o.shape)
        act = torch.sigmoid(gate) if cfg.get("output_gate_activation") == "sigmoid" else (
            gate * torch.sigmoid(gate))  # fmt: skip
        o = _rms(o, w["o_norm.weight"], cfg["norm_eps"]) * act
    else:
        o = _rms(o, w["o_norm.weight"], cfg["norm_eps"])
    return o.flatten(2) @ w["o_proj.weight"].T


def deltanet(w: dict[str, Tensor], x: Tensor, cfg: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """fla's DeltaNet layer on ``x [B, T, hidden]``: ``(y, final state [B, H, K, V])``."""
    H, act = cfg["num_heads"], cfg.get("qk_activation", "silu")
    q, k, v = (x @ w[f"{n}_proj.weight"].T for n in "qkv")
    if cfg.get("use_short_conv", True):
        q = _short_conv(q, w, "q_conv1d", act == "silu")
        k = _short_conv(k, w, "k_conv1d", act == "silu")
        v = _short_conv(v, w, "v_conv1d", True)
    else:
        q, k = (F.silu(q), F.silu(k)) if act == "silu" else (q, k)
        v = F.silu(v)
    B, T, _ = x.shape
    q, k, v = (z.reshape(B, T, H, -1) for z in (q, k, v))
    if act == "relu":
        q, k = q.relu(), k.relu()
    elif act == "elu":
        q, k = F.elu(q) + 1, F.elu(k) + 1
    if cfg.get("qk_norm", "l2") == "sum":
        q, k = (z / z.abs().sum(-1, keepdim=True).clamp_min(1e-6) for z in (q, k))
    else:
        q, k = _l2norm(q), _l2norm(k)
    beta = torch.sigmoid(x @ w["b_proj.weight"].T) if cfg.get("use_beta", True) else (
        x.new_ones(B, T, H))  # fmt: skip
    beta = beta * 2 if cfg.get("allow_neg_eigval") else beta
    o, S = _gated_delta_loop(q, k, v, beta, torch.zeros_like(beta), q.shape[-1] ** -0.5)
    return _output(w, x, o, cfg), S


def gated_deltanet(w: dict[str, Tensor], x: Tensor, cfg: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """fla's GatedDeltaNet layer on ``x [B, T, hidden]``: ``(y, final state [B, HV, K, V])``."""
    H, D = cfg["num_heads"], cfg["head_dim"]
    HV = cfg.get("num_v_heads") or H
    q, k, v = (x @ w[f"{n}_proj.weight"].T for n in "qkv")
    if cfg.get("use_short_conv", True):
        q, k, v = (
            _short_conv(z, w, f"{n}_conv1d", True) for z, n in zip((q, k, v), "qkv", strict=True)
        )
    else:
        q, k, v = F.silu(q), F.silu(k), F.silu(v)
    B, T, _ = x.shape
    q, k, v = q.reshape(B, T, H, D), k.reshape(B, T, H, D), v.reshape(B, T, HV, -1)
    q, k = _l2norm(q), _l2norm(k)
    head = torch.arange(HV) // (HV // H)  # the kernel's i_h = i_hv // (HV // H)
    q, k = q[:, :, head], k[:, :, head]
    beta = torch.sigmoid(x @ w["b_proj.weight"].T)
    beta = beta * 2 if cfg.get("allow_neg_eigval") else beta
    g = -w["A_log"].exp() * F.softplus(x @ w["a_proj.weight"].T + w["dt_bias"])
    o, S = _gated_delta_loop(q, k, v, beta, g, D**-0.5)
    return _output(w, x, o, cfg), S


def causal_lm(w: dict[str, Tensor], ids: Tensor, cfg: dict[str, Any]) -> Tensor:
    """fla's ``*ForCausalLM`` logits: embeddings, pre-RMSNorm blocks, SwiGLU MLPs, norm, head."""
    layer = deltanet if cfg["model_type"] == "delta_net" else gated_deltanet
    eps = cfg["norm_eps"]
    h = w["model.embeddings.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        attn = {n[len(p) + 5 :]: t for n, t in w.items() if n.startswith(p + "attn.")}
        h = h + layer(attn, _rms(h, w[p + "attn_norm.weight"], eps), cfg | {"norm_eps": eps})[0]
        m = _rms(h, w[p + "mlp_norm.weight"], eps)
        gate, up = m @ w[p + "mlp.gate_proj.weight"].T, m @ w[p + "mlp.up_proj.weight"].T
        h = h + (gate * torch.sigmoid(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    head = w.get("lm_head.weight", w["model.embeddings.weight"])
    return _rms(h, w["model.norm.weight"], eps) @ head.T
