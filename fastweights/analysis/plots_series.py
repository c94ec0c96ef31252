"""Pictures over time with the input tokens along the x axis: the measures of the fast weights,
the write strength β under the tokens, and the nodal traffic as a time × unit heatmap.

The numbers come from ``fastweights.analysis.measures.layer_measures`` (norms, ranks, β, the
delta rule's correction ``‖v_t − v̄_t‖`` and its running sum) and
``fastweights.analysis.traffic.layer_traffic`` (``Σ_i |W_ij x_j|`` per input unit j and
``Σ_j |W_ij x_j|`` per output unit i); this module only draws them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.measures import layer_measures, write_strength
from fastweights.analysis.plots_base import (
    SEQUENTIAL,
    head_position,
    new_figure,
    pick_layer,
    series_width,
    step_labels,
    token_ticks,
)
from fastweights.analysis.recording import Recording
from fastweights.analysis.traffic import layer_traffic

# what each measure is, for the y axis
MEASURE_LABELS = {
    "frobenius_norm": "‖W_t‖_F",
    "update_norm": "‖W_t − W_{t−1}‖_F",
    "effective_rank": "effective rank",
    "stable_rank": "stable rank",
    "write_strength": "β_t (write strength)",
    "delta_correction": "‖v_t − v̄_t‖ (correction)",
    "cumulative_correction": "Σ correction so far",
}


def measure_series(
    recording: Recording,
    *,
    layer: int | None = None,
    measures: list[str] | None = None,
) -> Any:
    """One panel per measure (``layer_measures``), one line per recorded head, tokens along x.

    ``measures``: names to show, in order (default: every measure that applies to the layer).
    """
    rec = pick_layer(recording, layer, need="weights")
    values = layer_measures(rec)
    names = list(values) if measures is None else measures
    unknown = [n for n in names if n not in values]
    if unknown:
        raise ValueError(
            f"measures {unknown} do not apply to layer {rec.layer} ({rec.mixer}); "
            f"available: {list(values)}"
        )
    if not names:
        raise ValueError("no measures to show")
    labels = step_labels(recording, rec)
    x = np.arange(len(rec.steps))
    figure = new_figure(series_width(len(x)), 1.25 * len(names) + 1.2, layout="constrained")
    axes = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for axis, name in zip(axes, names, strict=True):
        series = values[name]  # [T', H']
        for pos, head in enumerate(rec.heads):
            axis.plot(
                x, series[:, pos], marker=".", markersize=3, linewidth=1, label=f"head {head}"
            )
        axis.set_ylabel(MEASURE_LABELS.get(name, name), fontsize=7)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncols=min(4, len(rec.heads)), loc="upper left")
    token_ticks(axes[-1], labels)
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}): the fast weights over the sequence", fontsize=9
    )
    return figure


def beta_strip(recording: Recording, *, layer: int | None = None) -> Any:
    """β per head (rows) and step (columns), the tokens above: where the net writes, and how hard.

    Per-channel rates ``[T', H', V]`` are averaged over the value channels.
    """
    rec = pick_layer(recording, layer)
    if "beta" not in rec.inputs:
        raise ValueError(f"layer {rec.layer} ({rec.mixer}) has no recorded β")
    beta = write_strength(rec.inputs["beta"])  # [T', H']
    labels = step_labels(recording, rec)
    figure = new_figure(
        series_width(len(labels)), 0.35 * len(rec.heads) + 1.6, layout="constrained"
    )
    axis = figure.subplots()
    image = axis.imshow(
        beta.T,
        cmap=SEQUENTIAL,
        vmin=0.0,
        vmax=max(1.0, float(beta.max())),
        aspect="auto",
        interpolation="nearest",
    )
    token_ticks(axis, labels)
    axis.xaxis.tick_top()
    axis.set_yticks(range(len(rec.heads)))
    axis.set_yticklabels([f"head {h}" for h in rec.heads], fontsize=7)
    if len(labels) <= 48:
        for (t, h), value in np.ndenumerate(beta):
            axis.text(
                t,
                h,
                f"{value:.2f}"[1:] if 0 <= value < 1 else f"{value:.1f}",
                ha="center",
                va="center",
                fontsize=5,
                color="black" if value > 0.6 else "white",
            )
    figure.colorbar(image, ax=axis, shrink=0.9, label="β")
    axis.set_title(
        f"layer {rec.layer} ({rec.mixer}): write strength β under the tokens", fontsize=9
    )
    return figure


def traffic_heatmap(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """Nodal traffic of one head: time × input unit (out of key unit j) and time × output unit
    (into value unit i), tokens along x."""
    rec = pick_layer(recording, layer, need="weights")
    pos = head_position(rec, rec.heads[0] if head is None else head)
    flow = layer_traffic(rec)
    labels = step_labels(recording, rec)
    panels = (
        ("into output unit i: Σ_j |W_ij x_j|", flow.targets[:, pos]),
        ("out of input unit j: Σ_i |W_ij x_j|", flow.sources[:, pos]),
    )
    figure = new_figure(series_width(len(labels)), 5.0, layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)
    peak = max(float(flow.targets[:, pos].max()), float(flow.sources[:, pos].max()), 1e-12)
    image = None
    for axis, (title, data) in zip(axes, panels, strict=True):
        image = axis.imshow(
            data.T, cmap=SEQUENTIAL, vmin=0.0, vmax=peak, aspect="auto", interpolation="nearest"
        )
        axis.set_ylabel("unit", fontsize=7)
        axis.set_title(title, fontsize=8)
        axis.tick_params(labelsize=6)
    token_ticks(axes[-1], labels)
    figure.colorbar(image, ax=list(axes), shrink=0.9, label="traffic")
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}), head {rec.heads[pos]}: traffic through the fast net",
        fontsize=9,
    )
    return figure
