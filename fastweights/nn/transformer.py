"""``RotaryAttention``: the attention of a RoPE Transformer, the ``transformer`` mixer.

Causal multi-head softmax attention over queries and keys rotated at their absolute positions
(RoPE, Su et al. 2021, arXiv:2104.09864; ``fastweights.nn.rotary``), as fla's ``Attention`` layer
builds it: bias-free ``q_proj, k_proj, v_proj, o_proj`` (fla's names, so its weights map by
name), rotate-half RoPE over the whole head with base ``rope_theta = 10000``, scale ``1/√D``::

    q_t, k_t, v_t = W_q x_t, W_k x_t, W_v x_t          (per head, [D])
    o_t = Σ_{s ≤ t} softmax_s(⟨R_t q_t, R_s k_s⟩ / √D) v_s,    y_t = W_o [o_t per head]

The state is the key/value cache ``(R k, v) [B, H, T_seen, D]``, keys already rotated: a
continuation's first position is the cache length, so segment by segment (and token by token)
equals one call. Unlike ``SoftmaxAttention`` (the minimal baseline, no positions: permuting the
earlier tokens leaves the last output unchanged), this layer sees token order.

``window=N`` keeps only the last ``N`` positions in the returned cache (a sliding key/value cache
of fixed size, as truncated-BPTT training carries it, Transformer-XL style): a call's queries see
the cached ``≤ N`` positions and the call's own causal prefix. The kept keys are turned back by
the dropped count, so the cache always holds positions ``0 .. N − 1`` and a continuation's first
position is still the cache length; attention depends only on ``p − s``, so this equals keeping
absolute positions. ``window=None`` (default) keeps everything.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fastweights.nn.baselines import cached_causal_attention, check_cache
from fastweights.nn.rotary import apply_rotary, check_theta, rotary_angles
from fastweights.nn.rule_layer import check_heads


class RotaryAttention(nn.Module):
    """Causal softmax attention with RoPE; state: the key/value cache with rotated keys."""

    def __init__(
        self, d_model: int, n_heads: int, rope_theta: float = 10000.0, window: int | None = None
    ) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        if self.d_head % 2:
            raise ValueError(
                f"RoPE rotates pairs of channels: the head size d_model / n_heads must be even, "
                f"got {d_model} / {n_heads} = {self.d_head}"
            )
        self.rope_theta = check_theta(rope_theta)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window < 1):  # fmt: skip
            raise ValueError(
                f"window must be an int >= 1 (cached positions) or None, got {window!r}"
            )
        self.window = window
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be [B, T, d_model={self.d_model}], got {shape}")
        B, T, _ = x.shape
        past = 0
        if state is not None:
            check_cache(state, B, self.n_heads, self.d_head)
            past = state[0].shape[2]  # the cache holds positions 0 .. past − 1: this call's first

        def heads(project: nn.Linear) -> Tensor:
            return project(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # [B,H,T,D]

        q = apply_rotary(heads(self.q_proj), past, self.rope_theta)
        k = apply_rotary(heads(self.k_proj), past, self.rope_theta)
        o, state = cached_causal_attention(q, k, heads(self.v_proj), state)  # o [B, H, T, D]
        if self.window is not None and state[0].shape[2] > self.window:
            drop = state[0].shape[2] - self.window
            state = (self._shift_back(state[0][:, :, drop:], drop), state[1][:, :, drop:])
        return self.o_proj(o.transpose(1, 2).flatten(2)), state

    def _shift_back(self, k: Tensor, drop: int) -> Tensor:
        """Rotated keys ``[B, H, N, D]`` turned back by ``drop`` positions (p -> p − drop)."""
        angles = rotary_angles(1, self.d_head, offset=drop, theta=self.rope_theta, device=k.device)
        work = torch.promote_types(k.dtype, torch.float32)
        cos, sin = angles.cos().to(work), angles.sin().to(work)  # [1, D/2]
        k1, k2 = k.to(work).chunk(2, dim=-1)
        return torch.cat([k1 * cos + k2 * sin, k2 * cos - k1 * sin], dim=-1).to(k.dtype)
