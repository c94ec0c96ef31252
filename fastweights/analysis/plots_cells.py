"""Pictures of the self-referential cells: the SRWM modifying itself, the 1993 net's reads and
writes.

**SRWM** (Irie, Schlag, Csordás, Schmidhuber 2022, arXiv:2202.05780): one matrix
``W = [W_y; W_q; W_k; w_bᵀ]`` per head makes its own output, query, key and the four rates
``β_t = σ(w_{b,t−1}ᵀ x_t)`` and rewrites all four blocks, ``W_t = W_{t−1} + β_t ⊙_rows
(W_{t−1} q_t − W_{t−1} k_t) ⊗ k_t``. ``srwm_submatrices`` shows what each block became since the
first kept step; ``srwm_updates`` the size of each block's update (``update_norm`` of
``fastweights.analysis.measures``) and the four rates over the tokens.

**The 1993 net** (Schmidhuber, ICANN 1993): analysis units ``ana`` point at a connection to read
(``val``), modification units ``mod`` at one to change by ``△``; connection ``w_ij`` has the
binary address of its flat index ``(i − n_in)·N + j`` (most significant bit first).
``srnet_reads_writes`` shows the address bits over time, the nearest connection each points at
on the grid of ``W``, and the values read and the changes written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.measures import update_norm
from fastweights.analysis.plots_base import (
    SEQUENTIAL,
    head_position,
    new_figure,
    pick_layer,
    pick_steps,
    series_width,
    show_matrix,
    step_labels,
    symmetric_limit,
    token_ticks,
)
from fastweights.analysis.recording import LayerRecording, Recording

SRWM_BLOCKS = ("W_y", "W_q", "W_k", "w_b")
SRWM_CELLS = ("srwm", "fake_srwm", "sr_delta")
RATE_NAMES = ("β_y", "β_q", "β_k", "β_b")


def _cell_layer(recording: Recording, layer: int | None, cells: tuple[str, ...]) -> LayerRecording:
    if layer is None:
        found = [i for i, rec in sorted(recording.layers.items()) if rec.meta.get("cell") in cells]
        if not found:
            raise ValueError(f"no recorded layer is one of the cells {cells}")
        layer = found[0]
    rec = pick_layer(recording, layer)
    if rec.meta.get("cell") not in cells:
        raise ValueError(f"layer {rec.layer} is {rec.mixer!r}, not one of the cells {cells}")
    return rec


def _blocks(rec: LayerRecording, pos: int) -> dict[str, np.ndarray]:
    """The four blocks of one head in the papers' orientation, ``[T', rows, D]`` each."""
    blocks = {name: rec.state[name][:, pos] for name in SRWM_BLOCKS}
    blocks["w_b"] = np.swapaxes(blocks["w_b"], -1, -2)  # stored transposed: [D, 4] -> [4, D]
    return blocks


def srwm_rates(rec: LayerRecording, pos: int) -> np.ndarray:
    """``β_t = σ(w_{b,t−1}ᵀ x_t)`` ``[T', 4]`` of one head; NaN where ``w_{b,t−1}`` was not kept
    (the first step, whose ``W_0`` is not recorded, and steps after a gap)."""
    w_b, x = rec.state["w_b"][:, pos], rec.inputs["x"][:, pos]  # [T', D, 4], [T', D]
    rates = np.full((len(rec.steps), 4), np.nan)
    for t in range(1, len(rec.steps)):
        if rec.steps[t] - rec.steps[t - 1] == 1:
            rates[t] = 1 / (1 + np.exp(-(x[t] @ w_b[t - 1])))
    return rates


def srwm_submatrices(
    recording: Recording,
    *,
    layer: int | None = None,
    head: int | None = None,
    max_steps: int = 6,
) -> Any:
    """Rows ``W_y, W_q, W_k, w_b``; columns the shown steps: each block's change since the first
    kept step, ``W_t − W_{t₀}``, on a symmetric colour scale per block fixed across steps."""
    rec = _cell_layer(recording, layer, SRWM_CELLS)
    pos = head_position(rec, rec.heads[0] if head is None else head)
    blocks = _blocks(rec, pos)
    cols = pick_steps(len(rec.steps), None, max_steps)
    labels = step_labels(recording, rec)
    figure = new_figure(1.5 * len(cols) + 1.4, 6.4, layout="constrained")
    grid = figure.subplots(
        4, len(cols), squeeze=False, gridspec_kw={"height_ratios": [3, 3, 3, 1.2]}
    )
    for i, name in enumerate(SRWM_BLOCKS):
        change = blocks[name] - blocks[name][:1]  # [T', rows, D]
        limit = symmetric_limit(change)
        image = None
        for j, col in enumerate(cols):
            axis = grid[i, j]
            image = show_matrix(axis, change[col], limit)
            if i == 0:
                axis.set_title(f"t={int(rec.steps[col])} {labels[col]}", fontsize=7)
        grid[i, 0].set_ylabel(name, fontsize=8)
        figure.colorbar(image, ax=grid[i, :], shrink=0.9)
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}), head {rec.heads[pos]}: each block's "
        f"change since step {int(rec.steps[0])}",
        fontsize=9,
    )
    return figure


def srwm_updates(recording: Recording, *, layer: int | None = None, head: int | None = None) -> Any:
    """Top: ``‖ΔW‖_F`` of each block per step; bottom: the four rates ``β_t``; tokens along x."""
    rec = _cell_layer(recording, layer, SRWM_CELLS)
    pos = head_position(rec, rec.heads[0] if head is None else head)
    blocks = _blocks(rec, pos)
    labels = step_labels(recording, rec)
    x = np.arange(len(rec.steps))
    figure = new_figure(series_width(len(x)), 4.2, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    for name, block in blocks.items():
        # the first kept step's update is unknown (W_0 is not recorded): the line starts at 1
        norms = update_norm(block[1:], initial=block[0]) if len(block) > 1 else np.zeros(0)
        top.plot(x[1:], norms, marker=".", markersize=3, linewidth=1, label=f"‖Δ{name}‖")
    top.set_ylabel("update norm", fontsize=7)
    top.legend(fontsize=6, ncols=4)
    rates = srwm_rates(rec, pos)
    for r, name in enumerate(RATE_NAMES):
        bottom.plot(x, rates[:, r], marker=".", markersize=3, linewidth=1, label=name)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("rate β_t", fontsize=7)
    bottom.legend(fontsize=6, ncols=4)
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=7)
    token_ticks(bottom, labels)
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}), head {rec.heads[pos]}: how much each "
        "block rewrites itself",
        fontsize=9,
    )
    return figure


def decode_address(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest binary code to each pointer ``[..., n_addr]`` (MSB first) as a flat index, and
    the squared distance to it (0: the pointer is exactly an address)."""
    nearest = (bits > 0.5).astype(np.int64)
    weights = 2 ** np.arange(bits.shape[-1] - 1, -1, -1)
    return nearest @ weights, np.square(bits - nearest).sum(-1)


def srnet_reads_writes(
    recording: Recording, *, layer: int | None = None, head: int | None = None
) -> Any:
    """The 1993 net's self-inspection: address bits of ``ana`` (read) and ``mod`` (write) over
    time; on the grid of ``W`` the connection each points at (o read, x written, coloured by
    time); the value read ``val`` and the change written ``△``."""
    rec = _cell_layer(recording, layer, ("srnet1993",))
    pos = head_position(rec, rec.heads[0] if head is None else head)
    ana, mod = rec.state["ana"][:, pos], rec.state["mod"][:, pos]  # [T', n_addr]
    W = rec.weights[:, pos]  # [T', R, N]
    R, N = W.shape[-2:]
    labels = step_labels(recording, rec)
    x = np.arange(len(rec.steps))
    figure = new_figure(series_width(len(x), extra=4.0), 6.6, layout="constrained")
    panels = figure.subplot_mosaic(
        [["ana", "grid"], ["mod", "grid"], ["values", "grid"]], width_ratios=[1.4, 1]
    )
    for name, bits in (("ana", ana), ("mod", mod)):
        axis = panels[name]
        axis.imshow(bits.T, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        axis.set_ylabel(f"{name} bits\n(MSB top)", fontsize=7)
        axis.set_xticks([])
        axis.tick_params(labelsize=6)
    panels["ana"].set_title("analysis address (read)", fontsize=8)
    panels["mod"].set_title("modification address (write)", fontsize=8)
    values = panels["values"]
    values.plot(x, rec.state["val"][:, pos, 0], marker=".", linewidth=1, label="val (read)")
    values.plot(x, rec.state["delta"][:, pos, 0], marker=".", linewidth=1, label="△ (written)")
    values.legend(fontsize=6)
    values.grid(alpha=0.3)
    values.tick_params(labelsize=6)
    token_ticks(values, labels)

    grid = panels["grid"]
    change = W[-1] - W[0]
    limit = symmetric_limit(change)
    show_matrix(grid, change, limit, alpha=0.6)
    for name, bits, marker in (("read", ana, "o"), ("written", mod, "x")):
        index, _ = decode_address(bits)
        inside = index < R * N  # codes past the last connection address nothing
        dots = grid.scatter(
            index[inside] % N,
            index[inside] // N,
            c=x[inside],
            cmap="plasma",
            vmin=0,
            vmax=max(1, len(x) - 1),
            marker=marker,
            s=28,
            label=name,
        )
    figure.colorbar(dots, ax=grid, shrink=0.6, label="kept step")
    grid.legend(fontsize=6, loc="lower right")
    grid.set_title(f"W {R}×{N}: change over the sequence, connections read/written", fontsize=8)
    grid.set_xlabel("from unit j", fontsize=7)
    grid.set_ylabel("to unit i (computed units)", fontsize=7)
    grid.tick_params(labelsize=6)
    figure.suptitle(
        f"layer {rec.layer} (srnet1993), head {rec.heads[pos]}: reads and writes of "
        "its own weights",
        fontsize=9,
    )
    return figure
