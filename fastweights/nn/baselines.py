"""The baselines with the mixer interface ``forward(x, state=None) -> (y, state)``.

- ``SoftmaxAttention``: causal multi-head softmax attention through
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
        if state is not None:
            k, v = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)
        past = k.shape[2] - T
        # query i (absolute position past + i) sees keys 0 .. past + i
        mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=None if past == 0 else mask,
                                           is_causal=past == 0)  # fmt: skip
        return self.out(o.transpose(1, 2).flatten(2)), (k, v)


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
