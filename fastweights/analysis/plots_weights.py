"""Pictures of the fast weight matrix itself: heatmaps of ``W_t`` and the update filmstrip.

``W`` is shown in the papers' orientation (``W = Sᵀ``, ``o = W q``: rows are value/output
dimensions, columns key dimensions), on a symmetric diverging colour scale that is fixed across
all steps of a picture, so a colour means the same weight in every panel and growth is visible.

The filmstrip is the picture of Irie & Schmidhuber, *Images as Weight Matrices: Sequential Image
Generation Through Synaptic Learning Rules* (arXiv:2210.06184): per step, on top the update the
slow net wrote (``ΔW_t = W_t − W_{t−1}``, a rank-one ``β (v − v̄) ⊗ k`` for the delta rule, ``v ⊗ k``
for the sum rule), below it the matrix so far. When only every n-th step was kept the update is
the change since the previous kept step (a sum of n rank-one writes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.plots_base import (
    head_position,
    new_figure,
    pick_layer,
    pick_steps,
    show_matrix,
    step_labels,
    symmetric_limit,
)
from fastweights.analysis.recording import LayerRecording, Recording


def weight_updates(layer: LayerRecording) -> tuple[np.ndarray, np.ndarray]:
    """``ΔW [T', H', R, C]`` between consecutive kept steps, and ``known [T']``.

    A rule starts from zero fast weights, so its first update is ``W`` itself when step 0 was
    kept. A cell's first matrix ``W_0`` is learned and not part of the recording, unless the
    recorder stored it as ``meta["initial_weights"]`` (``[H', R, C]``); without it the first
    update is unknown (``known[0]`` False, zeros).
    """
    if layer.weights is None:
        raise ValueError(f"layer {layer.layer} ({layer.mixer}) has no fast weight matrix")
    weights = layer.weights
    previous = np.empty_like(weights)
    previous[1:] = weights[:-1]
    known = np.ones(len(weights), dtype=bool)
    initial = layer.meta.get("initial_weights")
    if initial is not None:
        previous[0] = np.asarray(initial, dtype=weights.dtype).reshape(weights.shape[1:])
    elif layer.kind == "rule" and int(layer.steps[0]) == 0:
        previous[0] = 0.0
    else:
        previous[0] = weights[0]
        known[0] = False
    return weights - previous, known


def _row_blocks(axis: Any, layer: LayerRecording, n_rows: int) -> None:
    """Mark the row blocks of a cell's stacked matrix (``meta["rows"]``: names, or name/size)."""
    rows = layer.meta.get("rows")
    if not rows:
        return
    if all(isinstance(r, str) for r in rows):
        return  # names without sizes: nothing to place
    edge = 0
    ticks, names = [], []
    for name, size in rows:
        ticks.append(edge + size / 2 - 0.5)
        names.append(str(name))
        edge += size
        if edge < n_rows:
            axis.axhline(edge - 0.5, color="black", linewidth=0.6)
    axis.set_yticks(ticks)
    axis.set_yticklabels(names, fontsize=7)


def weight_heatmaps(
    recording: Recording,
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
    steps: list[int] | None = None,
    max_steps: int = 8,
) -> Any:
    """A grid of ``W_t`` heatmaps: one row per head, one column per shown step (token on top).

    ``steps`` are positions among the kept steps (default: up to ``max_steps`` spread evenly, the
    last included); ``heads`` are model head indices (default: all recorded). One colour scale,
    symmetric around 0, covers every kept step of the shown heads.
    """
    rec = pick_layer(recording, layer, need="weights")
    heads = rec.heads if heads is None else heads
    rows = [head_position(rec, h) for h in heads]
    cols = pick_steps(len(rec.steps), steps, max_steps)
    labels = step_labels(recording, rec)
    weights = rec.weights[:, rows]  # [T', shown heads, R, C]
    limit = symmetric_limit(weights)
    n_r, n_c = weights.shape[-2:]
    panel = 1.6 * max(0.5, min(2.0, n_r / max(n_c, 1)))
    figure = new_figure(1.6 * len(cols) + 1.0, panel * len(rows) + 0.8, layout="constrained")
    grid = figure.subplots(len(rows), len(cols), squeeze=False)
    image = None
    for i, (head, row) in enumerate(zip(heads, range(len(rows)), strict=True)):
        for j, col in enumerate(cols):
            axis = grid[i, j]
            image = show_matrix(axis, weights[col, row], limit)
            if i == 0:
                axis.set_title(f"t={int(rec.steps[col])} {labels[col]}", fontsize=7)
            if j == 0:
                axis.set_ylabel(f"head {head}", fontsize=8)
                _row_blocks(axis, rec, n_r)
    figure.colorbar(image, ax=grid, shrink=0.8, label="weight")
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}): fast weights W_t (rows: values, columns: keys)",
        fontsize=9,
    )
    return figure


def filmstrip(
    recording: Recording,
    *,
    layer: int | None = None,
    head: int | None = None,
    steps: list[int] | None = None,
    max_frames: int = 10,
) -> Any:
    """The *Images as Weight Matrices* strip of one head: updates on top, ``W_t`` below.

    Each column is a kept step with its token underneath. The updates share one symmetric colour
    scale and the matrices another, both fixed across the strip.
    """
    rec = pick_layer(recording, layer, need="weights")
    pos = head_position(rec, rec.heads[0] if head is None else head)
    deltas, known = weight_updates(rec)
    cols = pick_steps(len(rec.steps), steps, max_frames)
    labels = step_labels(recording, rec)
    weights, deltas = rec.weights[:, pos], deltas[:, pos]  # [T', R, C]
    w_limit = symmetric_limit(weights)
    d_limit = symmetric_limit(deltas[known])
    figure = new_figure(1.3 * len(cols) + 1.2, 3.4, layout="constrained")
    grid = figure.subplots(2, len(cols), squeeze=False)
    top = bottom = None
    for j, col in enumerate(cols):
        up, down = grid[0, j], grid[1, j]
        if known[col]:
            top = show_matrix(up, deltas[col], d_limit)
        else:
            up.set_xticks([])
            up.set_yticks([])
            up.text(0.5, 0.5, "W_0\nnot\nrecorded", ha="center", va="center", fontsize=7)
        bottom = show_matrix(down, weights[col], w_limit)
        up.set_title(f"t={int(rec.steps[col])}", fontsize=7)
        down.set_xlabel(labels[col], fontsize=7, rotation=60)
    grid[0, 0].set_ylabel("update ΔW", fontsize=8)
    grid[1, 0].set_ylabel("W so far", fontsize=8)
    if top is not None:
        figure.colorbar(top, ax=grid[0, :], shrink=0.9)
    figure.colorbar(bottom, ax=grid[1, :], shrink=0.9)
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}), head {rec.heads[pos]}: writes and the matrix so far",
        fontsize=9,
    )
    return figure
