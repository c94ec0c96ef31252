"""Summaries over training seeds: mean, sample standard deviation, 95 % Student-t interval.

For n values ``x_i``: ``m = Σ x_i / n``, ``s = sqrt(Σ (x_i − m)² / (n − 1))`` and the two-sided
95 % interval ``m ± t_{0.975, n−1} · s / √n``. scipy is not a dependency: ``t_{0.975, df}`` is
tabulated for df = 1..30 (standard tables, 4 decimals) and beyond that given by the
Cornish–Fisher expansion around the normal quantile (error below 1e-4 for df > 30).

A difference of two arms' means uses Welch's standard error ``sqrt(s_a²/n_a + s_b²/n_b)`` with
the conservative ``df = min(n_a, n_b) − 1`` (wider than Welch–Satterthwaite's, never narrower).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# t_{0.975, df} for df = 1 .. 30
T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
Z975 = 1.959963984540054  # the standard normal's 0.975 quantile


def t_quantile_975(df: int) -> float:
    """``t_{0.975, df}``, the two-sided 95 % quantile of Student's t with ``df`` >= 1."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be an int >= 1, got {df!r}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Summary:
    """``n`` values: mean, sample std and the 95 % interval (None for a single value)."""

    n: int
    mean: float
    std: float | None
    ci95: tuple[float, float] | None

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "mean": self.mean, "std": self.std,
                "ci95": None if self.ci95 is None else list(self.ci95)}  # fmt: skip


def _values(values: Sequence[float]) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError("no values to summarise")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"values must be finite, got {out}")
    return out


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation and the 95 % t-interval of ``values``."""
    xs = _values(values)
    n = len(xs)
    mean = sum(xs) / n
    if n == 1:
        return Summary(1, mean, None, None)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, (mean - half, mean + half))


def difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float] | None:
    """``mean(a) − mean(b)`` and its 95 % interval (Welch error, df = min(n) − 1).

    None when either side has a single value (no spread to judge by).
    """
    xa, xb = _values(a), _values(b)
    if len(xa) < 2 or len(xb) < 2:
        return None
    sa, sb = summarize(xa), summarize(xb)
    assert sa.std is not None and sb.std is not None
    diff = sa.mean - sb.mean
    error = math.sqrt(sa.std**2 / sa.n + sb.std**2 / sb.n)
    half = t_quantile_975(min(sa.n, sb.n) - 1) * error
    return diff, diff - half, diff + half
