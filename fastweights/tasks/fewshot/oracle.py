"""Reference solvers for ``FewShot`` episodes: a label oracle and a pixel nearest neighbour.

``oracle(task, episode)`` predicts, at each step ``t``, the label the input has already shown
for an earlier step of the same class (the class ids come from ``Episode.classes``; the labels
are read from the label channel of ``x`` only, so it checks that the shown labels agree with
``y``). It is causal: in the sync mode a step's label is shown at that step, in the delayed mode
at the next one. It scores 100% on every scored step of a sync episode, and on every step of a
delayed episode except a class's first occurrence, where no earlier example tells the label and
it returns −1.

``nearest_neighbour(task, x)`` is the classic pixel baseline of the sync mode: each query takes
the label of the support image closest in Euclidean distance. Its accuracy says how much of the
task plain template matching already solves.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.tasks.fewshot.episodes import Episode, FewShot


def _shown_labels(task: FewShot, x: Tensor) -> tuple[Tensor, Tensor]:
    """The label each step's input shows, ``[B, T]`` int64, and whether it shows one."""
    channel = x[..., task.image_size**2 :]  # [B, T, N+1]
    labels = channel[..., : task.n_way]
    shows = (labels.sum(-1) == 1) & (x[..., task.no_label] == 0)
    return labels.argmax(-1), shows


def oracle(task: FewShot, episode: Episode) -> Tensor:
    """Causal predictions ``[B, T]`` int64, −1 where no earlier step of the class has a shown
    label (see the module docstring)."""
    label_in, shows = _shown_labels(task, episode.x)
    B, T = label_in.shape
    if task.label_mode == "sync":  # step s shows its own label at step s
        label_of, known, shown_at = label_in, shows, torch.arange(T)
    else:  # step s's label is shown at step s + 1; the last step's never
        label_of = torch.cat([label_in[:, 1:], torch.zeros_like(label_in[:, :1])], 1)
        known = torch.cat([shows[:, 1:], torch.zeros_like(shows[:, :1])], 1)
        shown_at = torch.arange(T) + 1
    t, s = torch.arange(T)[:, None], torch.arange(T)[None, :]  # [T, 1], [1, T]
    same = episode.classes[:, :, None] == episode.classes[:, None, :]  # [B, t, s]
    usable = same & known[:, None, :] & (shown_at[None, :] <= t) & (s != t)  # [B, t, s]
    latest = torch.where(usable, s.expand(B, T, T), -1).amax(-1)  # [B, t]
    predicted = label_of.gather(1, latest.clamp(min=0))
    return torch.where(latest >= 0, predicted, -1)


def nearest_neighbour(task: FewShot, x: Tensor) -> Tensor:
    """Sync mode: each query's label is that of the nearest support image (pixels, L2);
    ``[B, T]`` int64 with −1 at the support steps."""
    if task.label_mode != "sync":
        raise ValueError(f"nearest_neighbour reads sync episodes, got {task.label_mode!r}")
    images = x[..., : task.image_size**2]  # [B, T, S²]
    label_in, _ = _shown_labels(task, x)
    support, queries = images[:, : task.n_support], images[:, task.n_support :]
    nearest = torch.cdist(queries, support).argmin(-1)  # [B, Q]
    out = torch.full_like(label_in, -1)
    out[:, task.n_support :] = label_in[:, : task.n_support].gather(1, nearest)
    return out
