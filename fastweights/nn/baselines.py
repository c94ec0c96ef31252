"""The baselines with the mixer interface ``forward(x, state=None) -> (y, state)``.

- ``SoftmaxAttention``: the minimal baseline, causal multi-head softmax attention with no
  positions at all (``fastweights.nn.transformer`` adds RoPE), through
  ``torch.nn.functional.scaled_dot_product_attention``. Its state is the key/value cache
  ``(k, v) [B, H, T_seen, D]``: streaming equals one call, but memory grows with the context —
  the contrast with the fast weights' fixed-size state.
- ``LSTMMixer``: a one-layer ``torch.nn.LSTM`` over ``d_model``; state ``(h, c) [1, B, d_model]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.rule_layer import check_heads


def check_cache(state: tuple[Tensor, Tensor], B: int, H: int, D: int) -> None:
    """``state`` is a key/value cache ``(k, v) [B, H, T_seen, D]``."""
    if not (isinstance(state, tuple | list) and len(state) == 2
            and all(isinstance(s, Tensor) for s in state)):  # fmt: skip
        raise TypeError(f"state must be a key/value cache (k, v) of tensors, got {type(state)}")
    shapes = [tuple(s.shape) for s in state]
    if any(len(s) != 4 or (s[0], s[1], s[3]) != (B, H, D) for s in shapes) or (
        shapes[0][2] != shapes[1][2]
    ):
        raise ValueError(
            f"state must be (k, v) of shape [B={B}, H={H}, T_seen, D={D}] each, got {shapes}"
        )


def cached_causal_attention(
    q: Tensor, k: Tensor, v: Tensor, state: tuple[Tensor, Tensor] | None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Causal softmax attention (scale ``1/√D``) of ``q, k, v [B, H, T, D]`` after the cache
    ``state`` ``(k, v) [B, H, T_seen, D]``: ``(o [B, H, T, D], cache [B, H, T_seen + T, D])``."""
    T = q.shape[2]
    if state is not None:
        check_cache(state, k.shape[0], k.shape[1], k.shape[3])
        k, v = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)
    past = k.shape[2] - T
    # query i (absolute position past + i) sees keys 0 .. past + i
    mask = torch.ones(T, past + T, dtype=torch.bool, device=q.device).tril(diagonal=past)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=None if past == 0 else mask,
                                       is_causal=past == 0)  # fmt: skip
    return o, (k, v)


class SoftmaxAttention(nn.Module):
    """Causal softmax attention with a key/value cache as its state."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        B, T, _ = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, T, D]
        o, state = cached_causal_attention(q, k, v, state)
        return self.out(o.transpose(1, 2).flatten(2)), state


class LSTMMixer(nn.Module):
    """``torch.nn.LSTM`` as a mixer (``n_heads`` is accepted for the common interface)."""

    def __init__(self, d_model: int, n_heads: int = 1) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        y, state = self.lstm(x, state)
        return y, state
