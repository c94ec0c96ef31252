"""``ShortConvolution``: a causal depthwise convolution over time, then SiLU (DeltaNet's conv).

Each channel ``c`` of ``x [B, T, C]`` is convolved with its own kernel of ``kernel_size`` taps
over the current and the ``kernel_size − 1`` previous steps, then passed through SiLU::

    y_t[c] = silu( Σ_{j=0}^{kernel_size−1} w[c, j] · x_{t − kernel_size + 1 + j}[c] )

(``x_s = 0`` before the start, or the carried ``cache``); ``activation=None`` leaves out the SiLU
and ``bias=True`` adds a bias per channel, as fla's ``ShortConvolution`` options. It is an
``nn.Conv1d`` (``weight [C, 1, kernel_size]``), so its parameters are named as fla's.

As in DeltaNet and gated DeltaNet (Yang et al. 2024, arXiv:2406.06484 and arXiv:2412.06464;
``ShortConvolution`` of flash-linear-attention), it runs on the projected q, k and v, before
feature maps and normalisation: it mixes each token with its few predecessors, so a key can be
bound to a value that follows it and a model gets a local positional signal.

``forward(x, cache=None) -> (y, cache)`` with ``cache [B, C, kernel_size − 1]``: the last
``kernel_size − 1`` inputs (channels first, as ``nn.Conv1d``), zeros at the start. Carrying it
across calls equals one long call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ShortConvolution(nn.Conv1d):
    """Depthwise causal ``Conv1d`` of ``kernel_size`` taps over ``channels``, then SiLU."""

    def __init__(
        self, channels: int, kernel_size: int = 4, *, activation: str | None = "silu",
        bias: bool = False,
    ) -> None:  # fmt: skip
        for name, value, least in (("channels", channels, 1), ("kernel_size", kernel_size, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        if activation not in ("silu", None):
            raise ValueError(f"activation must be 'silu' or None, got {activation!r}")
        # nn.Conv1d's parameters and initialisation; the causal padding comes from the cache
        super().__init__(channels, channels, kernel_size, groups=channels, bias=bias)
        self.channels, self.activation = channels, activation

    def fresh_cache(self, batch_size: int, like: Tensor) -> Tensor:
        """The cache at the start of a sequence: zeros ``[B, C, kernel_size − 1]``."""
        return like.new_zeros(batch_size, self.channels, self.kernel_size[0] - 1)

    def forward(self, x: Tensor, cache: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """``x [B, T, C]``, ``cache [B, C, kernel_size − 1]`` -> ``(y [B, T, C], cache)``."""
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"expected x [B, T, {self.channels}], got {list(x.shape)}")
        B = x.shape[0]
        if cache is None:
            cache = self.fresh_cache(B, x)
        expected = (B, self.channels, self.kernel_size[0] - 1)
        if not isinstance(cache, Tensor) or tuple(cache.shape) != expected:
            got = list(cache.shape) if isinstance(cache, Tensor) else type(cache).__name__
            raise ValueError(f"expected a conv cache of shape {list(expected)}, got {got}")
        # [B, C, kernel_size − 1 + T]: the cached steps, then this call's steps
        window = torch.cat([cache.to(x.dtype), x.transpose(1, 2)], dim=-1)
        y = F.conv1d(window, self.weight, self.bias, groups=self.channels)  # [B, C, T]
        if self.activation == "silu":
            y = F.silu(y)
        return y.transpose(1, 2), window[..., window.shape[-1] - expected[-1] :]
