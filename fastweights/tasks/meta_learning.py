"""Meta-learning tasks: every episode is a new mapping, learnable only from the feedback in it.

After the 1993 introspective net's setting (Schmidhuber, "A 'self-referential' weight matrix",
ICANN 1993; "An 'introspective' network that can learn to run its own weight change algorithm",
1993): eval input units receive performance information after each step, so that a net trained
over many episodes can learn, inside one, by its own weight changes. Here the feedback is the
previous step's correct answer (as in Hochreiter, Younger, Conwell 2001, "Learning to learn using
gradient descent"); it arrives in the last ``feedback_dims`` channels of ``x``, which
``ModelConfig(feedback=feedback_dims)`` routes to the 1993 net's eval units (and every model sees
as ordinary input).

- ``MetaRegression``: online regression of a fresh linear map per episode. ``A ~ N(0, 1/d_in)``
  ``[d_out, d_in]``, ``x_t ~ N(0, I)``, target ``y_t = A x_t`` (+ noise), input
  ``[x_t, y_{t−1}]`` (``y_{−1} = 0``). Loss ``½ ‖ŷ_t − y_t‖²``: about ``d_out / 2`` for a net that
  has learned nothing of ``A``, 0 for one that has identified it (after ``d_in`` pairs).
- ``MetaAssociation``: a fresh random labelling of ``n_items`` items per episode; each step shows
  an item (one-hot), the target is its label, and the next step reveals that label (one-hot).
  A net that learns within the episode guesses at chance on an item's first showing, right after.

``scored`` picks the positions scored (the mask): ``"all"``, or the first third (``"early"``)
or the last third (``"late"``) of the episode, so the within-episode error can be read early and
late on the same episodes (the data does not depend on ``scored``). ``reveal=False`` zeroes the
feedback channels (the control without feedback).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args

PHASES = ("all", "early", "late")


def _positive(name: str, value: object, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")


def phase_mask(batch_size: int, length: int, scored: str) -> Tensor:
    """``[B, T]`` bool: every position, or the first or last third of the episode."""
    mask = torch.zeros(batch_size, length, dtype=torch.bool)
    third = max(1, length // 3)
    if scored == "all":
        mask[:] = True
    elif scored == "early":
        mask[:, :third] = True
    else:
        mask[:, length - third :] = True
    return mask


def _check_common(length: int, scored: str, reveal: object) -> None:
    _positive("length", length, 3)
    if scored not in PHASES:
        raise ValueError(f"scored must be one of {PHASES}, got {scored!r}")
    if not isinstance(reveal, bool):
        raise ValueError(f"reveal must be True or False, got {reveal!r}")


def _shifted(y: Tensor, reveal: bool) -> Tensor:
    """The feedback of step t: ``y_{t−1}`` (zeros at t = 0, and everywhere without reveal)."""
    feedback = torch.zeros_like(y)
    if reveal:
        feedback[:, 1:] = y[:, :-1]
    return feedback


@dataclass(frozen=True)
class MetaRegression:
    """Online regression of a random linear map per episode (see the module docstring)."""

    d_in: int = 2
    d_out: int = 1
    length: int = 24
    noise: float = 0.0
    scored: str = "all"
    reveal: bool = True

    target_kind = "vectors"
    vocab_size = 0

    def __post_init__(self) -> None:
        _positive("d_in", self.d_in)
        _positive("d_out", self.d_out)
        _check_common(self.length, self.scored, self.reveal)
        if not (isinstance(self.noise, (int, float)) and 0 <= self.noise < float("inf")):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise!r}")

    @property
    def feedback_dims(self) -> int:
        return self.d_out

    @property
    def d_input(self) -> int:
        return self.d_in + self.d_out

    @property
    def n_out(self) -> int:
        return self.d_out

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``x [B, T, d_in + d_out]`` = ``[x_t, y_{t−1}]``, ``y [B, T, d_out]``, ``mask [B, T]``."""
        check_sample_args(batch_size, generator)
        B, T = batch_size, self.length
        A = torch.randn(B, self.d_out, self.d_in, generator=generator) / self.d_in**0.5
        inputs = torch.randn(B, T, self.d_in, generator=generator)
        y = inputs @ A.transpose(1, 2)  # [B, T, d_in] @ [B, d_in, d_out] -> [B, T, d_out]
        if self.noise:
            y = y + self.noise * torch.randn(B, T, self.d_out, generator=generator)
        x = torch.cat([inputs, _shifted(y, self.reveal)], dim=-1)
        return Batch(x, y, phase_mask(B, T, self.scored))


@dataclass(frozen=True)
class MetaAssociation:
    """A random item -> label map per episode, each label revealed after its guess."""

    n_items: int = 4
    n_labels: int = 4
    length: int = 24
    scored: str = "all"
    reveal: bool = True

    vocab_size = 0

    def __post_init__(self) -> None:
        _positive("n_items", self.n_items)
        _positive("n_labels", self.n_labels, 2)
        _check_common(self.length, self.scored, self.reveal)

    @property
    def feedback_dims(self) -> int:
        return self.n_labels

    @property
    def d_input(self) -> int:
        return self.n_items + self.n_labels

    @property
    def n_out(self) -> int:
        return self.n_labels

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``x [B, T, n_items + n_labels]`` = ``[item_t, label_{t−1}]`` one-hot, ``y [B, T]``
        the labels (int64), ``mask [B, T]``."""
        check_sample_args(batch_size, generator)
        B, T = batch_size, self.length
        labels = torch.randint(self.n_labels, (B, self.n_items), generator=generator)
        items = torch.randint(self.n_items, (B, T), generator=generator)
        y = labels.gather(1, items)  # [B, T]
        shown = F.one_hot(items, self.n_items).float()
        answer = _shifted(F.one_hot(y, self.n_labels).float(), self.reveal)
        return Batch(torch.cat([shown, answer], dim=-1), y, phase_mask(B, T, self.scored))
