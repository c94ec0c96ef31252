"""Feature maps φ applied to keys and queries along the last dimension.

A fast weight programmer stores ``v ⊗ φ(k)`` and reads with ``φ(q)``; φ decides what the
fast-weight memory can tell apart. Every map here acts on the last dimension of a floating-point
tensor ``x[..., d]`` and returns ``φ(x)[..., feature_dim(name, d)]`` in the input's dtype.

Maps (``FEATURE_MAPS`` keys):

- ``identity``: φ(x) = x.
- ``elu+1``: φ(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020, "Transformers are RNNs",
  arXiv:2006.16236).
- ``relu``: φ(x) = max(x, 0).
- ``softmax``: φ(x)_j = exp(x_j) / Σ_i exp(x_i).
- ``dpfp``: deterministic parameter-free projection (Schlag, Irie, Schmidhuber 2021, "Linear
  Transformers Are Secretly Fast Weight Programmers", arXiv:2102.11174). With
  r(x) = [relu(x), relu(−x)] ∈ R^{2d},
  φ_ν(x) = concat_{i=1..ν} r(x) ⊙ roll(r(x), i), of dimension 2νd. Roll by d only pairs
  relu(x_j) with relu(−x_j) (always 0) and roll by 2d − i repeats roll by i, so the informative
  values are 1 ≤ ν < d; larger ν is allowed, as in the paper's code.

Normalisations (also ``FEATURE_MAPS`` keys, so a rule can name them the same way):

- ``l2``: φ(x) = x / max(‖x‖₂, eps).
- ``sum``: φ(x) = x / max(Σ_j x_j, eps), for non-negative features (e.g. after ``relu``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_float(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"feature map expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"feature map expects a floating-point tensor, got dtype {x.dtype}")


def identity(x: Tensor) -> Tensor:
    """φ(x) = x."""
    _check_float(x)
    return x


def elu_plus_one(x: Tensor) -> Tensor:
    """φ(x) = elu(x) + 1 (arXiv:2006.16236)."""
    _check_float(x)
    return F.elu(x) + 1.0


def relu(x: Tensor) -> Tensor:
    """φ(x) = max(x, 0)."""
    _check_float(x)
    return F.relu(x)


def softmax(x: Tensor) -> Tensor:
    """φ(x) = softmax(x) over the last dimension."""
    _check_float(x)
    return torch.softmax(x, dim=-1)


def dpfp(x: Tensor, *, nu: int = 1) -> Tensor:
    """DPFP-ν (arXiv:2102.11174): ``[..., d] -> [..., 2 * nu * d]``."""
    _check_float(x)
    if isinstance(nu, bool) or not isinstance(nu, int) or nu < 1:
        raise ValueError(f"dpfp: nu must be an integer >= 1, got {nu!r}")
    r = torch.cat([F.relu(x), F.relu(-x)], dim=-1)  # [..., 2d]
    return torch.cat([r * r.roll(i, dims=-1) for i in range(1, nu + 1)], dim=-1)  # [..., 2νd]


def l2(x: Tensor, *, eps: float = 1e-6) -> Tensor:
    """φ(x) = x / max(‖x‖₂, eps): unit L2 norm along the last dimension."""
    _check_float(x)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def sum_norm(x: Tensor, *, eps: float = 1e-6) -> Tensor:
    """φ(x) = x / max(Σ_j x_j, eps): entries of non-negative features sum to one."""
    _check_float(x)
    return x / x.sum(dim=-1, keepdim=True).clamp_min(eps)


FEATURE_MAPS: dict[str, Callable[..., Tensor]] = {
    "identity": identity,
    "elu+1": elu_plus_one,
    "relu": relu,
    "softmax": softmax,
    "dpfp": dpfp,
    "l2": l2,
    "sum": sum_norm,
}


def _lookup(name: str) -> Callable[..., Tensor]:
    fn = FEATURE_MAPS.get(name)
    if fn is None:
        known = ", ".join(sorted(FEATURE_MAPS))
        raise ValueError(f"unknown feature map {name!r}; known feature maps: {known}")
    return fn


def apply_feature_map(name: str, x: Tensor, **options: object) -> Tensor:
    """Apply the feature map ``name`` to the last dimension of ``x``."""
    return _lookup(name)(x, **options)


def feature_dim(name: str, d: int, **options: object) -> int:
    """Output size of the feature map ``name`` for inputs whose last dimension is ``d``."""
    fn = _lookup(name)
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"feature_dim: d must be an integer >= 1, got {d!r}")
    # Running the map on a meta tensor costs no memory or compute and keeps this in step with
    # the maps themselves (options are validated by the same code).
    return fn(torch.empty(d, device="meta"), **options).shape[-1]
