"""``ImageSet``: the images of one split, grouped by class, as the episode sampler reads them.

Every source (the glyph set, the UCI digits, a local Omniglot) ends as one ``ImageSet``:
``images [N, S, S]`` uint8 with ink high (0 = background, 255 = full ink), the examples of class
``c`` at rows ``start[c] … start[c] + count[c] − 1``, and a name per class. uint8 keeps a split
small (the default glyph set's background split is about 20 MB); the sampler turns the rows it
draws into floats in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class ImageSet:
    """Images grouped by class (see the module docstring)."""

    images: Tensor  # [N, S, S] uint8
    start: Tensor  # [C] int64, first row of each class
    count: Tensor  # [C] int64, examples of each class
    names: tuple[str, ...]  # [C] a readable name per class

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(
                f"images must be uint8 [N, S, S], got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.images.shape[1] != self.images.shape[2]:
            raise ValueError(f"images must be square, got {tuple(self.images.shape[1:])}")
        C = len(self.names)
        if self.start.shape != (C,) or self.count.shape != (C,):
            raise ValueError(
                f"start and count must have shape ({C},) (one per name), got "
                f"{tuple(self.start.shape)} and {tuple(self.count.shape)}"
            )
        if C == 0 or int(self.count.min()) < 1:
            raise ValueError("an image set needs at least one class, each with >= 1 image")
        if int(self.start.min()) < 0 or int((self.start + self.count).max()) > len(self.images):
            raise ValueError(f"class rows run past the {len(self.images)} images")

    @property
    def n_classes(self) -> int:
        return len(self.names)

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @classmethod
    def from_groups(cls, groups: Sequence[Tensor], names: Sequence[str]) -> ImageSet:
        """One ``[n_c, S, S]`` uint8 tensor per class, in the order of ``names``."""
        if len(groups) != len(names):
            raise ValueError(f"{len(groups)} image groups for {len(names)} class names")
        count = torch.tensor([len(group) for group in groups], dtype=torch.int64)
        start = torch.cumsum(count, 0) - count
        images = torch.cat(list(groups)) if groups else torch.zeros(0, 1, 1, dtype=torch.uint8)
        return cls(images, start, count, tuple(names))


def resize(images: Tensor, size: int) -> Tensor:
    """``[N, h, w]`` uint8 → ``[N, size, size]`` uint8: area averaging when shrinking (no
    aliasing of thin strokes), bilinear interpolation when enlarging."""
    if images.shape[-2:] == (size, size):
        return images
    x = images.float().unsqueeze(1)  # [N, 1, h, w]
    if size <= min(images.shape[-2:]):
        x = F.interpolate(x, size=(size, size), mode="area")
    else:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.squeeze(1).round().clamp(0, 255).to(torch.uint8)
