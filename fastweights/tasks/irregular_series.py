"""An irregularly sampled time series task: is a spiral turning clockwise or counter-clockwise?

For continuous-time sequence models (e.g. the continuous-time FWPs of Irie, Faccio, Schmidhuber,
arXiv:2206.01649, ``fastweights.nn.continuous_fwp``), which read observations at arbitrary times.
Each series is a 2-D spiral ``p(t) = r(t) (cos θ(t), sin θ(t))`` with ``θ(t) = θ_0 + s ω t``,
``r(t) = r_0 + a t`` on ``t ∈ [0, 1]``, direction ``s = ±1`` (label 1: counter-clockwise),
``ω ~ U(omega)`` turns per unit time times 2π, ``θ_0 ~ U(0, 2π)``, ``r_0 ~ U(0.2, 0.6)``,
``a ~ U(-0.15, 0.4)``, and Gaussian noise of standard deviation ``noise`` on each coordinate.
It is observed at ``length`` random times, one drawn uniformly in each of ``length`` equal bins
of ``[0, 1]`` (so consecutive observations are less than ``2 / length`` apart, yet irregular),
and at no other time.

``x [B, T, 3]``: per observation ``(t_i, p_x, p_y)`` (the time is a channel, as neural CDEs take
it); ``y [B, T]`` the label at every position; ``mask`` scores only the last observation (the
series is classified once it has been seen). ``oracle`` reads the winding from the points alone:
the sign of the summed cross products of consecutive noise-free points is the direction whenever
``ω · 2/length < π`` (checked at construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args


@dataclass(frozen=True)
class IrregularSpirals:
    """Classify a spiral's turning direction from ``length`` irregularly timed noisy points."""

    length: int = 16
    noise: float = 0.05
    omega: tuple[float, float] = (0.5, 1.5)  # turns per unit time
    vocab_size: int = 0
    d_input: int = 3
    n_out: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 2:
            raise ValueError(f"length must be an int >= 2, got {self.length!r}")
        if not self.noise >= 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")
        low, high = self.omega
        if not 0 < low <= high:
            raise ValueError(f"omega must be (low, high) with 0 < low <= high, got {self.omega}")
        if 2 * math.pi * high * 2 / self.length >= math.pi:
            raise ValueError(
                f"omega up to {high} turns per unit time with length {self.length} can turn "
                f"half a circle between observations (the direction becomes ambiguous): need "
                f"omega[1] < length / 4"
            )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        B, T = batch_size, self.length

        def uniform(low: float, high: float, *shape: int) -> Tensor:
            return low + (high - low) * torch.rand(*shape, generator=generator)

        bins = torch.arange(T, dtype=torch.float32) / T  # [T] left edges
        times = bins + uniform(0.0, 1.0 / T, B, T)  # [B, T], increasing
        label = torch.randint(0, 2, (B,), generator=generator)  # 1: counter-clockwise
        sign = (2 * label - 1).to(torch.float32)
        omega = 2 * math.pi * uniform(*self.omega, B)
        angle = uniform(0.0, 2 * math.pi, B)[:, None] + (sign * omega)[:, None] * times
        radius = uniform(0.2, 0.6, B)[:, None] + uniform(-0.15, 0.4, B)[:, None] * times
        points = radius[..., None] * torch.stack([angle.cos(), angle.sin()], -1)  # [B, T, 2]
        points = points + self.noise * torch.randn(B, T, 2, generator=generator)
        x = torch.cat([times[..., None], points], dim=-1)  # [B, T, 3]
        y = label[:, None].expand(B, T).contiguous()
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return Batch(x, y, mask)

    @staticmethod
    def oracle(x: Tensor) -> Tensor:
        """The direction read from the points ``x [B, T, 3]``: ``[B]`` (1: counter-clockwise)."""
        p = x[..., 1:]
        cross = p[:, :-1, 0] * p[:, 1:, 1] - p[:, :-1, 1] * p[:, 1:, 0]  # [B, T-1]
        return (cross.sum(1) > 0).to(torch.long)
