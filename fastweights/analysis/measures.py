"""Measures of recorded fast weights, per step and head: size, change, rank, writes, corrections.

Arrays in (numpy or torch; fast weights ``W [..., V, K]`` in the papers' orientation ``o = W q``,
time at dim 0 where a measure runs over time), float64 numpy arrays out:

- ``frobenius_norm``: ``‖W_t‖_F``;
- ``update_norm``: ``‖W_t − W_{t−1}‖_F`` (``W_{−1}``: the initial state, zeros by default);
- ``effective_rank``: ``exp(−Σ_i p_i log p_i)``, ``p_i = σ_i / Σ_j σ_j`` over the singular values
  (Roy & Vetterli 2007, "The effective rank: a measure of effective dimensionality");
- ``stable_rank``: ``‖W‖_F² / ‖W‖_2²``;
- ``write_strength``: ``β_t`` (per-channel rates averaged over the value channels);
- ``delta_correction``: ``‖v_t − v̄_t‖`` with ``v̄_t = W_{t−1} k_t``, what the net reads of its own
  weights before writing (Schlag et al. 2021, arXiv:2102.11174), and ``cumulative_correction``,
  its running sum over time — the "analysis" signal of how much the net still has to correct;
- ``retrieval_error``: ``‖W k_n − v_n‖`` for given key/value pairs.

``layer_measures`` computes the ones that apply to a ``LayerRecording``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.recording import LayerRecording


def as_array(x: Any, name: str = "array") -> np.ndarray:
    """A numpy float64 array from a numpy array, a torch tensor or a nested sequence."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from error


def _matrices(W: Any) -> np.ndarray:
    W = as_array(W, "W")
    if W.ndim < 2:
        raise ValueError(f"W must be [..., V, K] (at least 2-D), got shape {W.shape}")
    return W


def frobenius_norm(W: Any) -> np.ndarray:
    """``‖W‖_F`` over the last two dims: ``[..., V, K] -> [...]``."""
    return np.linalg.norm(_matrices(W), axis=(-2, -1))


def update_norm(W: Any, initial: Any = None) -> np.ndarray:
    """``‖W_t − W_{t−1}‖_F`` for ``W [T, ..., V, K]``; the first step against ``initial``
    (zeros by default)."""
    W = _matrices(W)
    if W.ndim < 3:
        raise ValueError(f"W must be [T, ..., V, K] (time at dim 0), got shape {W.shape}")
    first = np.zeros_like(W[:1]) if initial is None else as_array(initial, "initial")[None]
    if first.shape[1:] != W.shape[1:]:
        raise ValueError(f"initial must be {list(W.shape[1:])}, got {list(first.shape[1:])}")
    return frobenius_norm(np.diff(W, axis=0, prepend=first))


def singular_values(W: Any) -> np.ndarray:
    """``σ [..., min(V, K)]``, in decreasing order."""
    return np.linalg.svd(_matrices(W), compute_uv=False)


def effective_rank(W: Any) -> np.ndarray:
    """Roy & Vetterli's effective rank ``exp(H(σ / Σσ))``: ``[..., V, K] -> [...]`` (0 for
    W = 0)."""
    s = singular_values(W)
    total = s.sum(-1, keepdims=True)
    p = np.divide(s, total, out=np.zeros_like(s), where=total > 0)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return np.where(total[..., 0] > 0, np.exp(entropy), 0.0)


def stable_rank(W: Any) -> np.ndarray:
    """``‖W‖_F² / ‖W‖_2²``: ``[..., V, K] -> [...]`` (0 for W = 0)."""
    s = singular_values(W)
    top = s[..., 0] ** 2
    return np.divide((s**2).sum(-1), top, out=np.zeros_like(top), where=top > 0)


def write_strength(beta: Any) -> np.ndarray:
    """``β_t [T, H]`` as recorded, or ``[T, H, V]`` per-channel rates averaged to ``[T, H]``."""
    beta = as_array(beta, "beta")
    if beta.ndim not in (2, 3):
        raise ValueError(f"beta must be [T, H] or [T, H, V], got shape {beta.shape}")
    return beta if beta.ndim == 2 else beta.mean(-1)


def reads(W: Any, k: Any, initial: Any = None) -> np.ndarray:
    """``v̄_t = W_{t−1} k_t``: ``W [T, H, V, K]`` (every step), ``k [T, H, K]`` -> ``[T, H, V]``."""
    W, k = _matrices(W), as_array(k, "k")
    if W.ndim != 4 or k.shape != (W.shape[0], W.shape[1], W.shape[3]):
        raise ValueError(
            f"expected W [T, H, V, K] and k [T, H, K] with the same T, H, K; "
            f"got W {list(W.shape)}, k {list(k.shape)}"
        )
    first = np.zeros_like(W[:1]) if initial is None else as_array(initial, "initial")[None]
    before = np.concatenate([first, W[:-1]])  # W_{t−1}
    return np.einsum("thvk,thk->thv", before, k)


def delta_correction(W: Any, k: Any, v: Any, initial: Any = None) -> np.ndarray:
    """``‖v_t − W_{t−1} k_t‖ [T, H]``: how far the stored value for ``k_t`` is from ``v_t``."""
    v = as_array(v, "v")
    v_bar = reads(W, k, initial)
    if v.shape != v_bar.shape:
        raise ValueError(f"v must be {list(v_bar.shape)} ([T, H, V]), got {list(v.shape)}")
    return np.linalg.norm(v - v_bar, axis=-1)


def cumulative_correction(correction: Any) -> np.ndarray:
    """The running sum of the corrections over time (dim 0): the analysis signal."""
    return np.cumsum(as_array(correction, "correction"), axis=0)


def retrieval_error(W: Any, keys: Any, values: Any) -> np.ndarray:
    """``‖W k_n − v_n‖`` per pair: ``W [..., V, K]``, ``keys [N, K]``, ``values [N, V]`` ->
    ``[..., N]``."""
    W, keys, values = _matrices(W), as_array(keys, "keys"), as_array(values, "values")
    if keys.ndim != 2 or values.ndim != 2 or len(keys) != len(values):
        raise ValueError(
            f"keys [N, K] and values [N, V] must be 2-D with the same N, "
            f"got {list(keys.shape)} and {list(values.shape)}"
        )
    if keys.shape[1] != W.shape[-1] or values.shape[1] != W.shape[-2]:
        raise ValueError(
            f"W is [..., {W.shape[-2]}, {W.shape[-1]}] (V, K): keys need K={W.shape[-1]}, values "
            f"V={W.shape[-2]}, got {keys.shape[1]} and {values.shape[1]}"
        )
    retrieved = np.einsum("...vk,nk->...nv", W, keys)
    return np.linalg.norm(retrieved - values, axis=-1)


def consecutive(layer: LayerRecording) -> bool:
    """Whether the layer kept every step ``0 .. T−1`` (what the running measures need)."""
    return bool(np.array_equal(layer.steps, np.arange(len(layer.steps))))


def layer_measures(layer: LayerRecording) -> dict[str, np.ndarray]:
    """Every measure that applies to ``layer``, each ``[T', H']``.

    Norms and ranks for any layer with weights (the update norm between kept steps; a cell's
    first is NaN, its learned initial state not being recorded); ``write_strength`` where it has
    ``beta``; the delta correction and its running sum for a rule layer recorded at every step
    (``every=1``).
    """
    out: dict[str, np.ndarray] = {}
    if layer.weights is not None:
        W = layer.weights
        out["frobenius_norm"] = frobenius_norm(W)
        out["update_norm"] = update_norm(W) if layer.kind == "rule" else _update_from_first(W)
        out["effective_rank"] = effective_rank(W)
        out["stable_rank"] = stable_rank(W)
    beta = layer.inputs.get("beta")
    if beta is not None and (beta.ndim == 2 or layer.kind == "rule"):
        out["write_strength"] = write_strength(layer.inputs["beta"])
    if layer.kind == "rule" and consecutive(layer):
        out["delta_correction"] = delta_correction(layer.weights, layer.inputs["k"],
                                                   layer.inputs["v"])  # fmt: skip
        out["cumulative_correction"] = cumulative_correction(out["delta_correction"])
    return out


def _update_from_first(W: np.ndarray) -> np.ndarray:
    # a cell starts from a learned state that is not recorded: its first update is unknown (NaN)
    norms = frobenius_norm(np.diff(W, axis=0))  # [T' − 1, H']
    return np.concatenate([np.full((1, *norms.shape[1:]), np.nan), norms])
