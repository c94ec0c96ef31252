"""The dual form's picture: which training images a test prediction spotlights (arXiv:2202.05798).

One row per test input: the test image, its ``k`` training examples with the largest
contribution ``e_t[c] (x_tᵀ x)`` to the output unit ``c`` (e.g. the predicted class; each
example's occurrences over the epochs summed), each with its label, attention and contribution,
then a bar per training class: the summed contribution of all that class's examples, beside the
initial layer's share ``W_0 x``. A prediction the training patterns support shows its own class's
bar far above the rest; the images show which examples carried it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastweights.analysis.dual import DualMemory, spotlight
from fastweights.analysis.plots_base import new_figure


def dual_spotlight(
    memory: DualMemory,
    x: torch.Tensor,
    test_images: np.ndarray,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    ids: torch.Tensor,
    unit: torch.Tensor,
    *,
    test_labels: np.ndarray | None = None,
    k: int = 5,
    title: str | None = None,
) -> Any:
    """The spotlight figure for test inputs ``x [M, I]`` (the recorded layer's inputs) shown as
    ``test_images [M, h, w]``; ``ids [N]`` maps each key to a row of ``train_images [n, h, w]``
    and ``train_labels [n]``; ``unit [M]`` the output unit explained (e.g. the prediction)."""
    m = x.shape[0]
    if len(test_images) != m or len(unit) != m:
        raise ValueError(f"expected {m} test images and units, got {len(test_images)}, {len(unit)}")
    if len(train_images) != len(train_labels) or int(ids.max()) >= len(train_images):
        raise ValueError("ids must index train_images, and train_labels must match them")
    every = spotlight(memory, x, k=len(train_images), unit=unit, ids=ids)
    classes = np.unique(np.asarray(train_labels))
    figure = new_figure(1.35 * (k + 1) + 3.2, 1.6 * m + 0.5, layout="constrained")
    grid = figure.add_gridspec(m, k + 2, width_ratios=[1.0] * (k + 1) + [2.4])
    for row in range(m):
        c = int(unit[row])
        axis = figure.add_subplot(grid[row, 0])
        axis.imshow(test_images[row], cmap="gray_r", interpolation="nearest")
        truth = "" if test_labels is None else f" (true {int(test_labels[row])})"
        axis.set_title(f"test: unit {c}{truth}", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
        for j in range(k):
            example = int(every.index[row, j])
            axis = figure.add_subplot(grid[row, j + 1])
            axis.imshow(train_images[example], cmap="gray_r", interpolation="nearest")
            axis.set_title(
                f"#{example} [{int(train_labels[example])}]\n"
                f"a={float(every.attention[row, j]):.2g} c={float(every.score[row, j]):+.2g}",
                fontsize=7,
            )
            axis.set_xticks([])
            axis.set_yticks([])
        # the whole output of unit c, split by the class of the training examples
        score = every.score[row].numpy()  # [examples present], aligned with every.index
        labels = np.asarray(train_labels)[every.index[row].numpy()]
        per_class = [float(score[labels == label].sum()) for label in classes]
        axis = figure.add_subplot(grid[row, k + 1])
        names = ["W0"] + [str(int(label)) for label in classes]
        heights = [float(every.base[row, c]), *per_class]
        colours = ["0.6"] + ["C3" if int(label) == c else "C0" for label in classes]
        axis.bar(range(len(names)), heights, color=colours)
        axis.axhline(0.0, color="black", linewidth=0.5)
        axis.set_xticks(range(len(names)))
        axis.set_xticklabels(names, fontsize=7)
        axis.tick_params(axis="y", labelsize=7)
        axis.set_title(
            f"output {c} = {float(every.output[row, c]):.2f}: by training class", fontsize=8
        )
    if title:
        figure.suptitle(title, fontsize=9)
    return figure
