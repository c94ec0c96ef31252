"""Pictures of the 1993 net from inside, per micro-step (``fastweights.analysis.srnet_microsteps``).

Schmidhuber, "A 'self-referential' weight matrix" (ICANN 1993) and "An 'introspective' network
that can learn to run its own weight change algorithm" (1993):

- ``srnet_microstep_maps``: for a few micro-steps, the analysis address as a heat-map over the
  weight matrix (``g(‖ana − adr(w_ij)‖²)``: which connections it reads) and the write
  (``△ · g(‖mod − adr(w_ij)‖²)``: which it changes, by how much);
- ``srnet_machinery``: how much each micro-step changes the weights into its own hidden, output,
  analysis, modification and △ units (the last three are its read/write machinery), and the
  total change of W with the row groups marked;
- ``srnet_traffic``: nodal traffic ``Σ_j |w_ij z_j|`` into each unit and out of each unit, per
  micro-step;
- ``srnet_integral_map``: the analysis integral ``I_ij = Σ_s (w_ij(s) − a_ij(s))``
  (``fastweights.analysis.introspection``) over W: the drift of each connection that the net has
  not read back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.cell_matrices import srnet_units
from fastweights.analysis.plots_base import (
    SEQUENTIAL,
    head_position,
    new_figure,
    show_matrix,
    symmetric_limit,
)
from fastweights.analysis.plots_cells import _cell_layer
from fastweights.analysis.recording import Recording
from fastweights.analysis.srnet_microsteps import (
    MicroSteps,
    layer_options,
    machinery_change,
    nodal_traffic,
    srnet_microsteps,
)

MAX_PANELS = 8


def _micro(recording: Recording, layer: int | None, head: int | None) -> tuple[Any, MicroSteps]:
    rec = _cell_layer(recording, layer, ("srnet1993",))
    pos = head_position(rec, rec.heads[0] if head is None else head)
    return rec, srnet_microsteps(rec, pos, **layer_options(recording))


def _edges(groups: list[list[Any]]) -> list[float]:
    """The boundaries between consecutive unit groups, in pixel coordinates."""
    sizes = [size for _, size in groups]
    return [float(np.sum(sizes[: i + 1])) - 0.5 for i in range(len(sizes) - 1)]


def _group_lines(axis: Any, micro: MicroSteps) -> None:
    """Thin lines between the unit groups (rows: computed units; columns: all units)."""
    rows, cols = srnet_units(micro.layout)
    for y in _edges(rows):
        axis.axhline(y, color="0.4", linewidth=0.5)
    for x in _edges(cols):
        axis.axvline(x, color="0.4", linewidth=0.5)


def _group_ticks(axis: Any, groups: list[list[Any]], which: str) -> None:
    """One tick per unit group, at its centre, named (△ for the change unit)."""
    sizes = [size for _, size in groups]
    centres = [float(np.sum(sizes[:i])) + (size - 1) / 2 for i, size in enumerate(sizes)]
    names = ["△" if name == "delta" else name for name, _ in groups]
    if which == "y":
        axis.set_yticks(centres, names, fontsize=5)
    else:
        axis.set_xticks(centres, names, fontsize=5, rotation=90)


def _ticks(axis: Any, micro: MicroSteps, *, columns: bool = True) -> None:
    rows, cols = srnet_units(micro.layout)
    _group_ticks(axis, rows, "y")
    if columns:
        _group_ticks(axis, cols, "x")


def _title(rec: Any, what: str) -> str:
    return f"layer {rec.layer} (srnet1993), head {rec.heads[0]}: {what}"


def srnet_microstep_maps(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """Read (analysis address) and write (modification address × △) maps over W for up to
    ``MAX_PANELS`` micro-steps, the last ones of the sequence."""
    rec, micro = _micro(recording, layer, head)
    S = len(micro.val)
    shown = list(range(max(0, S - MAX_PANELS), S))
    figure = new_figure(1.9 * len(shown) + 1.0, 4.4, layout="constrained")
    axes = figure.subplots(2, len(shown), squeeze=False)
    limit = symmetric_limit(micro.write[shown])
    M = layer_options(recording)["micro_steps"]
    for col, s in enumerate(shown):
        top, bottom = axes[0, col], axes[1, col]
        image = top.imshow(micro.read[s], cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto",
                           interpolation="nearest")  # fmt: skip
        top.set_title(f"t={micro.token[s]} s={s % M + 1}: read\nval={micro.val[s]:.2f}",
                      fontsize=6)  # fmt: skip
        written = show_matrix(bottom, micro.write[s], limit)
        bottom.set_title(f"write △={micro.delta[s]:.2f}", fontsize=6)
        for axis in (top, bottom):
            _group_lines(axis, micro)
            axis.set_xticks([])
            axis.set_yticks([])
        if col == 0:
            _ticks(top, micro, columns=False)
            _ticks(bottom, micro, columns=False)
    figure.colorbar(image, ax=axes[0, -1], shrink=0.8, label="g (read)")
    figure.colorbar(written, ax=axes[1, -1], shrink=0.8, label="△ g (write)")
    figure.suptitle(_title(rec, "which connections each micro-step reads and "
                           "writes (rows: to unit, columns: from unit)"), fontsize=8)  # fmt: skip
    return figure


def srnet_machinery(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """Per micro-step, the size of the write into each row group of W; and W's total change."""
    rec, micro = _micro(recording, layer, head)
    change = machinery_change(micro)
    figure = new_figure(9.0, 3.4, layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1.6, 1])
    s = np.arange(1, len(micro.val) + 1)
    for name, values in change.items():
        label = "△" if name == "delta" else name
        style = "-" if name in ("ana", "mod", "delta") else ":"
        left.plot(s, values, style, marker=".", markersize=3, linewidth=1,
                  label=f"into {label} units")  # fmt: skip
    left.set_xlabel("micro-step", fontsize=7)
    left.set_ylabel("‖write into the rows‖", fontsize=7)
    left.set_title("changes to its own machinery (solid: analysis, modification, △)", fontsize=8)
    left.legend(fontsize=6)
    left.grid(alpha=0.3)
    left.tick_params(labelsize=6)
    total = micro.W[-1] - micro.W[0]
    show_matrix(right, total, symmetric_limit(total))
    _group_lines(right, micro)
    _ticks(right, micro)
    right.set_title("W_S − W_0 (rows: weights into the unit)", fontsize=8)
    figure.suptitle(_title(rec, "the net rewrites its read/write machinery"),
                    fontsize=8)  # fmt: skip
    return figure


def srnet_traffic(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """Nodal traffic per micro-step: into every computed unit (top) and out of every unit."""
    rec, micro = _micro(recording, layer, head)
    into, out = nodal_traffic(micro)
    figure = new_figure(max(5.0, 0.08 * len(micro.val) + 2.5), 5.0, layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[micro.layout.n_computed,
                                                      micro.layout.n_units])  # fmt: skip
    for axis, values, which, title in (
        (top, into, "y", "into unit i: Σ_j |w_ij z_j|"),
        (bottom, out, "x", "out of unit j: Σ_i |w_ij z_j|"),
    ):
        image = axis.imshow(values.T, cmap=SEQUENTIAL, aspect="auto", interpolation="nearest")
        rows, cols = srnet_units(micro.layout)
        _group_ticks(axis, rows if which == "y" else cols, "y")
        axis.set_title(title, fontsize=7)
        axis.tick_params(labelsize=6)
        figure.colorbar(image, ax=axis, shrink=0.8)
    bottom.set_xlabel("micro-step", fontsize=7)
    figure.suptitle(_title(rec, "nodal traffic per micro-step"), fontsize=8)
    return figure


def srnet_integral_map(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """The analysis integral ``I`` over W and the drift ``W_S − a`` left unread at the end."""
    from fastweights.analysis.introspection import srnet_introspection

    rec = _cell_layer(recording, layer, ("srnet1993",))
    pos = head_position(rec, rec.heads[0] if head is None else head)
    options = layer_options(recording)
    found = srnet_introspection(rec, micro_steps=options["micro_steps"], tau=options["tau"],
                                writes=options["writes"])  # fmt: skip
    micro = srnet_microsteps(rec, pos, **options)
    integral, reading = found.integral[pos], found.reading[pos]
    unread = rec.weights[-1, pos] - reading
    figure = new_figure(9.0, 3.6, layout="constrained")
    left, right = figure.subplots(1, 2)
    for axis, values, title in (
        (left, integral, "analysis integral I = Σ_s (w(s) − a(s))"),
        (right, unread, "at the end: w − a (drift not read back)"),
    ):
        image = show_matrix(axis, values, symmetric_limit(values))
        _group_lines(axis, micro)
        _ticks(axis, micro)
        axis.set_title(title, fontsize=8)
        figure.colorbar(image, ax=axis, shrink=0.7)
    figure.suptitle(_title(rec, "what it knows of its own weights"), fontsize=8)
    return figure
