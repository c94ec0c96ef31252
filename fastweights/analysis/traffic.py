"""Nodal traffic: how much signal each fast connection and each unit carries at every step.

At step t the fast net computes ``o_t = W_t x_t`` (``x_t``: the query it reads). Connection
``j → i`` then carries ``c_ij(t) = |W_ij(t) x_j(t)|``; summing gives the traffic per node:

    out of input unit j:   Σ_i c_ij(t)        (per column of W)
    into output unit i:    Σ_j c_ij(t)        (per row of W)
    through the net:       Σ_ij c_ij(t)

Each is a time × unit array per head, the picture of which units the fast net routes through
and when. ``layer_traffic`` reads a ``LayerRecording``: rules read their query ``q``; cells
whose main matrix multiplies a recorded input read that input (the SRWM family and the 1991
FWP read ``x``, the Delta RNN and Delta-Delta nets ``q``). The SRWM family reads its input
*before* its write (``y_t = W_{t−1} x_t``), so its step t routes through the weights kept at step
t − 1: it needs every step recorded, and its first step (the initial matrix is not recorded) is
NaN.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from fastweights.analysis.cell_matrices import cell_family
from fastweights.analysis.measures import as_array, consecutive
from fastweights.analysis.recording import LayerRecording

# the input a cell's main matrix multiplies (see fastweights.analysis.cell_matrices)
CELL_QUERIES = {
    "srwm": "x",
    "fake_srwm": "x",
    "sr_delta": "x",
    "fwp1991": "x",
    "delta_rnn": "q",
    "delta_delta": "q",
}

READS_BEFORE_WRITE = ("srwm", "fake_srwm", "sr_delta")  # y_t = W_{t−1} x_t


class Traffic(NamedTuple):
    """``edges [T, H, V, K]``; ``sources [T, H, K]`` (out of input unit j); ``targets [T, H, V]``
    (into output unit i); ``total [T, H]``."""

    edges: np.ndarray
    sources: np.ndarray
    targets: np.ndarray
    total: np.ndarray


def traffic(W: Any, x: Any) -> Traffic:
    """``|W_ij(t) x_j(t)|`` and its sums: ``W [T, H, V, K]``, ``x [T, H, K]``."""
    W, x = as_array(W, "W"), as_array(x, "x")
    if W.ndim != 4 or x.shape != (W.shape[0], W.shape[1], W.shape[3]):
        raise ValueError(
            f"expected W [T, H, V, K] and x [T, H, K] with the same T, H, K; "
            f"got W {list(W.shape)}, x {list(x.shape)}"
        )
    edges = np.abs(W * x[:, :, None, :])  # [T, H, V, K]
    return Traffic(edges, edges.sum(-2), edges.sum(-1), edges.sum((-2, -1)))


def layer_traffic(layer: LayerRecording) -> Traffic:
    """The traffic of a recorded layer through its fast weights at the kept steps."""
    if layer.weights is None:
        raise ValueError(
            f"layer {layer.layer} ({layer.mixer}) has no fast weights to route through"
        )
    if layer.kind == "rule":
        field = "q"
    else:
        cell = layer.meta.get("cell", layer.mixer)
        family = cell_family(cell)
        if family not in CELL_QUERIES:
            raise ValueError(
                f"no recorded input is what {cell!r}'s main matrix reads; traffic is defined for "
                f"rules and the cells {sorted(CELL_QUERIES)}"
            )
        field = CELL_QUERIES[family]
        if family in READS_BEFORE_WRITE:
            if not consecutive(layer):
                raise ValueError(
                    f"{cell!r} reads W_(t-1) at step t: record every step (every=1) for traffic"
                )
            unknown = np.full_like(layer.weights[:1], np.nan)  # W_(-1): not recorded
            return traffic(np.concatenate([unknown, layer.weights[:-1]]), layer.inputs[field])
    return traffic(layer.weights, layer.inputs[field])
