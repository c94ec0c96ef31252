"""Attention matrices side by side: a linear FWP's equivalent attention and softmax attention.

A rule that is linear in its values (sum, delta, gated delta) computes ``o_t = Σ_{s≤t} A[t, s]
v_s`` for a matrix ``A`` fixed by its queries, keys and rates
(``fastweights.analysis.attribution.layer_attention``): ``tril(Q Kᵀ) diag(β)`` for the sum rule,
with the delta rule's correction ``(I + stril(diag(β) K Kᵀ))⁻¹`` that lets a later write cancel
an earlier one (negative entries). Beside it, a softmax Transformer's own ``softmax(q kᵀ/√D)`` on
the same tokens shows what the FWP approximates, where they agree and where they differ.
Rows are queries (the step reading), columns keys (the step written); tokens on both axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastweights.analysis.attribution import LINEAR_IN_V, layer_attention
from fastweights.analysis.measures import consecutive
from fastweights.analysis.plots_base import (
    DIVERGING,
    SEQUENTIAL,
    head_position,
    new_figure,
    pick_layer,
    step_labels,
    symmetric_limit,
    token_ticks,
)
from fastweights.analysis.recording import LayerRecording, Recording


def has_attention(layer: LayerRecording) -> bool:
    """Whether ``layer_attention`` applies: softmax attention, or a rule linear in v kept at
    every step."""
    if layer.kind == "attention":
        return True
    return layer.kind == "rule" and layer.meta.get("rule") in LINEAR_IN_V and consecutive(layer)


def _attention_layer(recording: Recording, layer: int | None, strict: bool) -> LayerRecording:
    """Layer ``layer``; when not ``strict`` and that layer has no attention, the first that has."""
    if not strict and layer is not None:
        found = recording.layers.get(layer)
        layer = layer if found is not None and has_attention(found) else None
    if layer is None:
        for index in sorted(recording.layers):
            if has_attention(recording.layers[index]):
                return recording.layers[index]
        raise ValueError(
            "no recorded layer has an attention matrix (softmax attention, or sum/delta/"
            "gated_delta recorded with every=1)"
        )
    rec = pick_layer(recording, layer)
    if not has_attention(rec):
        raise ValueError(f"layer {rec.layer} ({rec.mixer}) has no (equivalent) attention matrix")
    return rec


def attention_matrices(
    recordings: Recording | Sequence[Recording],
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
) -> Any:
    """One row per recording, one panel per head (default: up to 4 recorded heads): the
    equivalent attention of a rule layer (diverging scale: the delta rule's corrections are
    negative) or softmax attention (0..1).

    ``layer`` is the first recording's layer (default: its first with attention); the others
    (e.g. a softmax model on the same input) show the same layer index where it has attention,
    else their first that has."""
    if isinstance(recordings, Recording):
        recordings = [recordings]
    if not recordings:
        raise ValueError("attention_matrices needs at least one recording")
    chosen = [_attention_layer(r, layer, strict=i == 0) for i, r in enumerate(recordings)]
    shown = [rec.heads[:4] if heads is None else heads for rec in chosen]
    n_cols = max(len(h) for h in shown)
    T = max(r.length for r in recordings)
    side = min(4.0, max(2.2, 0.1 * T + 1.0))
    figure = new_figure(side * n_cols + 1.0, side * len(chosen) + 0.6, layout="constrained")
    grid = figure.subplots(len(chosen), n_cols, squeeze=False)
    for row, (recording, rec, heads_here) in enumerate(zip(recordings, chosen, shown, strict=True)):
        matrices = layer_attention(rec)  # [H', T, T]
        labels = step_labels(recording, rec)
        signed = rec.kind == "rule"
        limit = symmetric_limit(matrices) if signed else 1.0
        what = f"equivalent attention ({rec.meta.get('rule', rec.mixer)})" if signed else "softmax"
        image = None
        for col in range(n_cols):
            axis = grid[row, col]
            if col >= len(heads_here):
                axis.axis("off")
                continue
            pos = head_position(rec, heads_here[col])
            image = axis.imshow(
                matrices[pos],
                cmap=DIVERGING if signed else SEQUENTIAL,
                vmin=-limit if signed else 0.0,
                vmax=limit,
                aspect="equal",
                interpolation="nearest",
            )
            axis.set_title(f"layer {rec.layer} {what}, head {heads_here[col]}", fontsize=7)
            token_ticks(axis, labels, rotation=90)
            token_ticks(axis, labels, which="y")
            axis.tick_params(labelsize=5)
        figure.colorbar(image, ax=grid[row, :], shrink=0.8)
    figure.suptitle("rows: the step reading (query); columns: the step written (key)", fontsize=8)
    return figure
