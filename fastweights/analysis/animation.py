"""An animated GIF of the fast weights ``W_t`` over a sequence, the token under each frame.

One frame per kept step: every shown head's ``W_t`` (papers' orientation, rows values, columns
keys) on one symmetric diverging colour scale fixed across all frames, with the step's token
underneath and the tokens read so far along the bottom. Frames are drawn by matplotlib on an Agg
canvas and assembled by Pillow (which comes with matplotlib), so no ffmpeg is needed.
"""

from __future__ import annotations

import io
from pathlib import Path

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
from fastweights.analysis.recording import Recording

MAX_HEADS = 4  # frames stay readable and small


def _history(labels: list[str], upto: int, width: int = 60) -> str:
    """The tokens read so far, newest last, cut on the left to about ``width`` characters."""
    text = " ".join(labels[: upto + 1])
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def weights_gif(
    recording: Recording,
    path: str | Path | None = None,
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
    fps: float = 4.0,
    max_frames: int = 64,
    dpi: int = 64,
) -> bytes:
    """The GIF's bytes (also written to ``path`` when given).

    ``heads``: model head indices (default: the first ``MAX_HEADS`` recorded); ``max_frames``:
    at most this many kept steps, spread evenly, the last included.
    """
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "the GIF needs Pillow (comes with matplotlib): pip install fastweights[plots]"
        ) from error
    rec = pick_layer(recording, layer, need="weights")
    heads = rec.heads[:MAX_HEADS] if heads is None else heads
    positions = [head_position(rec, h) for h in heads]
    frames_at = pick_steps(len(rec.steps), None, max_frames)
    weights = rec.weights[:, positions]  # [T', H'', R, C]
    limit = symmetric_limit(weights)
    labels = step_labels(recording, rec)
    all_labels = recording.labels()

    figure = new_figure(1.9 * len(heads) + 0.9, 2.6, dpi=dpi)
    axes = figure.subplots(1, len(heads), squeeze=False)[0]
    images = []
    for axis, head, pos in zip(axes, heads, range(len(heads)), strict=True):
        images.append(show_matrix(axis, weights[frames_at[0], pos], limit))
        axis.set_title(f"head {head}", fontsize=8)
    figure.colorbar(images[-1], ax=list(axes), shrink=0.8)
    figure.subplots_adjust(left=0.04, right=0.84, top=0.8, bottom=0.28, wspace=0.08)
    title = figure.suptitle("", fontsize=9)
    token = figure.text(0.44, 0.13, "", ha="center", fontsize=11, weight="bold")
    history = figure.text(0.44, 0.03, "", ha="center", fontsize=7, family="monospace")

    frames = []
    for index in frames_at:
        step = int(rec.steps[index])
        for image, pos in zip(images, range(len(heads)), strict=True):
            image.set_data(weights[index, pos])
        title.set_text(
            f"layer {rec.layer} ({rec.mixer}): W_t after step {step} of {recording.length}"
        )
        token.set_text(labels[index])
        history.set_text(_history(all_labels, step))
        figure.canvas.draw()
        rgba = np.asarray(figure.canvas.buffer_rgba(), dtype=np.uint8)
        # one palette per frame from its own colours: small files, exact diverging shades
        frames.append(Image.fromarray(rgba[..., :3]).quantize(colors=128))
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=True,
    )
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
