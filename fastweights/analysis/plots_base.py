"""What every picture of a ``Recording`` shares: matplotlib loaded lazily, layer and head lookup,
token ticks and the fixed symmetric colour scale.

Figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas (the non-interactive
backend), made without ``pyplot``: nothing global changes, no window opens, and a notebook shows
the returned Figure as it would any other. matplotlib comes with the ``plots`` extra.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from fastweights.analysis.recording import LayerRecording, Recording

DIVERGING = "RdBu_r"  # signed values (weights, updates): blue negative, white 0, red positive
SEQUENTIAL = "viridis"  # non-negative values (traffic, attention, rates)
MAX_TICKS = 40  # token labels along an axis beyond this are thinned


def new_figure(width: float, height: float, **options: Any) -> Any:
    """A ``Figure`` of ``width`` × ``height`` inches on an Agg canvas (matplotlib imported here)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "the pictures of fastweights.analysis need matplotlib: pip install fastweights[plots]"
        ) from error
    figure = Figure(figsize=(width, height), **options)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Any, *, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (for the report's data URIs and the docs' images)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)  # the layout engine already fits the page
    return buffer.getvalue()


def pick_layer(
    recording: Recording, layer: int | None, *, need: str | None = None
) -> LayerRecording:
    """Layer ``layer`` of the recording, or the first recorded layer that has ``need``.

    ``need`` is ``"weights"`` (a fast weight matrix), ``"attention"`` or None (any layer).
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"expected a Recording, got {type(recording).__name__}")
    if not recording.layers:
        raise ValueError("the recording has no layers")
    if layer is None:
        for index in sorted(recording.layers):
            candidate = recording.layers[index]
            if need is None or getattr(candidate, need) is not None:
                return candidate
        raise ValueError(f"no recorded layer has {need} (mixers: {mixers(recording)})")
    if layer not in recording.layers:
        raise ValueError(
            f"layer {layer} was not recorded; recorded layers: {sorted(recording.layers)}"
        )
    chosen = recording.layers[layer]
    if need is not None and getattr(chosen, need) is None:
        raise ValueError(f"layer {layer} ({chosen.mixer}, {chosen.kind}) has no {need}")
    return chosen


def mixers(recording: Recording) -> str:
    return ", ".join(f"{i}: {rec.mixer}" for i, rec in sorted(recording.layers.items()))


def head_position(layer: LayerRecording, head: int) -> int:
    """Where head ``head`` (a model head index) sits among the recorded heads."""
    if head not in layer.heads:
        raise ValueError(
            f"head {head} was not recorded in layer {layer.layer}; kept: {layer.heads}"
        )
    return layer.heads.index(head)


def step_labels(recording: Recording, layer: LayerRecording) -> list[str]:
    """The token of every kept step of ``layer`` (``t=…`` for vector inputs)."""
    labels = recording.labels()
    return [labels[int(t)] if 0 <= int(t) < len(labels) else f"t={int(t)}" for t in layer.steps]


def pick_steps(n_kept: int, steps: list[int] | None, limit: int) -> list[int]:
    """Positions among the kept steps to show: ``steps`` (positions), or at most ``limit`` evenly
    spread ones, the last always included."""
    if steps is not None:
        bad = [s for s in steps if not 0 <= s < n_kept]
        if bad:
            raise ValueError(f"step positions must be in [0, {n_kept}), got {bad}")
        return list(steps)
    if limit < 1:
        raise ValueError(f"the number of steps to show must be >= 1, got {limit}")
    if n_kept <= limit:
        return list(range(n_kept))
    return sorted({round(float(i)) for i in np.linspace(0, n_kept - 1, limit)})


def series_width(n_steps: int, *, extra: float = 2.0) -> float:
    """Inches for a picture with ``n_steps`` along x: room for the tokens, 7.5 to 16 wide."""
    return min(16.0, max(7.5, 0.16 * n_steps + extra))


def show_matrix(axis: Any, matrix: np.ndarray, limit: float, **options: Any) -> Any:
    """``matrix`` as an image on the diverging scale ``[-limit, limit]``, without ticks."""
    image = axis.imshow(
        matrix, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest",
        **options,
    )  # fmt: skip
    axis.set_xticks([])
    axis.set_yticks([])
    return image


def symmetric_limit(*arrays: np.ndarray) -> float:
    """One colour limit for signed arrays: the largest magnitude (1 when all are zero)."""
    peak = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    return peak if peak > 0 else 1.0


def token_ticks(axis: Any, labels: list[str], *, which: str = "x", rotation: int = 90) -> None:
    """Put ``labels`` along an axis at positions 0, 1, ...; thinned when there are many."""
    stride = max(1, -(-len(labels) // MAX_TICKS))
    positions = list(range(0, len(labels), stride))
    shown = [labels[p] for p in positions]
    if which == "x":
        axis.set_xticks(positions)
        axis.set_xticklabels(shown, rotation=rotation, fontsize=7)
    else:
        axis.set_yticks(positions)
        axis.set_yticklabels(shown, fontsize=7)
