"""Sequential N-way K-shot learning: ``FewShot``, the task of Irie, Schlag, Csordás, Schmidhuber,
"A Modern Self-Referential Weight Matrix That Learns to Modify Itself", ICML 2022
(arXiv:2202.05780), after Santoro et al. 2016 (arXiv:1605.06065) and Mishra et al. 2018
(SNAIL, arXiv:1707.03141): a sequence model learns a new classification task from the examples
in its input, with no weight update.

**An episode** (one sequence): draw ``N = n_way`` classes of the split; give them a random
permutation of the labels ``0 … N−1``; draw ``K = k_shot`` support examples of each and
``Q = n_queries`` query examples, each query of a uniformly drawn episode class (its examples
all distinct from that class's support examples). The sequence is the ``N·K`` support examples
in random order, then the ``Q`` queries: ``T = N·K + Q`` steps.

**Inputs** ``x [B, T, S² + N + 1]`` float32: the image (``S = image_size``, flattened row by
row, ink in ``[0, 1]``), then a label channel of ``N + 1``: the one-hot label in the first
``N``, and a **no-label** slot (the last column) that is 1 where no label is shown.

- ``label_mode="sync"`` (the paper's synchronous labels): a support step shows its own label; a
  query step shows no label (the no-label slot). Loss and accuracy only at the queries: ``mask``
  is True at the last ``Q`` steps. (The paper's code feeds the one-hot of class 0 as the query's
  dummy label; a separate slot is unambiguous.)
- ``label_mode="delayed"`` (the paper's delayed labels): every step shows the label of the
  *previous* step (no label at ``t = 0``) and the model predicts the label of every step: ``mask``
  is all True, as in the paper's code. No earlier example tells the label of a class's first
  occurrence (only the labels already taken can be ruled out), so the best possible accuracy is
  below 1; the oracle scores every later occurrence.

**Targets** ``y [B, T]`` int64: each step's label in ``0 … N−1``; ``n_out = N``.

``episode()`` also returns each step's class id (row of the split's ``ImageSet``), for the oracle
(``fastweights.tasks.fewshot.oracle``) and for analysis; ``sample()`` returns the ``Batch``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args
from fastweights.tasks.fewshot.imageset import ImageSet
from fastweights.tasks.fewshot.sources import SOURCES, load_split

LABEL_MODES = ("sync", "delayed")
SPLITS = ("train", "test")
DEFAULT_IMAGE_SIZE = {"digits": 8, "glyphs": 28, "omniglot": 28}


class Episode(NamedTuple):
    """A batch of episodes: ``x, y, mask`` as in ``Batch``, and ``classes [B, T]`` int64, the
    class id of each step (a row of the split's ``ImageSet``)."""

    x: Tensor
    y: Tensor
    mask: Tensor
    classes: Tensor


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class FewShot:
    """Sequential N-way K-shot classification (see the module docstring).

    Fields:

    - ``source``: ``"digits"`` (the vendored UCI 8×8 digits), ``"glyphs"`` (the font-rendered
      Omniglot-like set; needs matplotlib) or ``"omniglot"`` (a local copy at ``root``);
    - ``n_way``, ``k_shot``, ``n_queries``: N, K and Q (default 5-way 1-shot, one query, as the
      paper trains);
    - ``label_mode``: ``"sync"`` or ``"delayed"``;
    - ``split``: ``"train"`` (background alphabets; digits of forms 0–9) or ``"test"`` (the
      held-out evaluation alphabets; digits of forms 10–13); ``test_split()`` switches to it;
    - ``image_size``: S (default 8 for digits, 28 otherwise);
    - ``root``: Omniglot's folder (``source="omniglot"`` only);
    - ``cache_dir``, ``n_drawers``, ``max_characters``, ``data_seed``: the glyph set's cache
      folder (default ``$FASTWEIGHTS_CACHE/glyphs`` or ``~/.cache/fastweights/glyphs``),
      examples per character, characters per alphabet, and the seed of its distortions.

    Constructing the task loads nothing; the split is loaded (or rendered) at the first
    ``sample`` and shared by every task with the same data configuration.
    """

    source: str = "digits"
    n_way: int = 5
    k_shot: int = 1
    n_queries: int = 1
    label_mode: str = "sync"
    split: str = "train"
    image_size: int | None = None
    root: str | None = None
    cache_dir: str | None = None
    n_drawers: int = 20
    max_characters: int = 55
    data_seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        _check_int("n_way", self.n_way, 2)
        _check_int("k_shot", self.k_shot, 1)
        _check_int("n_queries", self.n_queries, 1)
        if self.image_size is None:
            object.__setattr__(self, "image_size", DEFAULT_IMAGE_SIZE[self.source])
        _check_int("image_size", self.image_size, 4)
        _check_int("n_drawers", self.n_drawers, 1)
        _check_int("max_characters", self.max_characters, 1)
        _check_int("data_seed", self.data_seed, 0)
        if self.source == "digits" and self.n_way > 10:
            raise ValueError(f"the digits have 10 classes, got n_way={self.n_way}")
        if (self.root is None) == (self.source == "omniglot"):
            raise ValueError(
                "root is Omniglot's folder: give it exactly when source='omniglot', got "
                f"source={self.source!r}, root={self.root!r}"
            )

    @property
    def vocab_size(self) -> int:
        return 0

    @property
    def d_input(self) -> int:
        return self.image_size**2 + self.n_way + 1

    @property
    def n_out(self) -> int:
        return self.n_way

    @property
    def n_support(self) -> int:
        return self.n_way * self.k_shot

    @property
    def seq_len(self) -> int:
        return self.n_support + self.n_queries

    @property
    def no_label(self) -> int:
        """The input column that is 1 where a step shows no label."""
        return self.d_input - 1

    def images(self) -> ImageSet:
        """The split's images (loaded on first use; see ``fastweights.tasks.fewshot.sources``)."""
        return load_split(
            self.source, self.split, self.image_size, root=self.root,
            cache_dir=self.cache_dir, n_drawers=self.n_drawers,
            max_characters=self.max_characters, data_seed=self.data_seed,
        )  # fmt: skip

    def test_split(self) -> FewShot:
        """The same task on the held-out split."""
        return replace(self, split="test")

    def _check_data(self, data: ImageSet) -> None:
        if data.n_classes < self.n_way:
            raise ValueError(
                f"{self.source} {self.split} has {data.n_classes} classes, fewer than "
                f"n_way={self.n_way}"
            )
        need = self.k_shot + self.n_queries  # all queries may fall on one class
        if int(data.count.min()) < need:
            raise ValueError(
                f"{self.source} {self.split} has classes with {int(data.count.min())} examples; "
                f"k_shot + n_queries = {need} distinct examples per class are needed"
            )

    def episode(self, batch_size: int, generator: torch.Generator) -> Episode:
        """``batch_size`` episodes (the module docstring) with each step's class id. Every class
        needs ``k_shot + n_queries`` examples, since all queries may fall on one class."""
        check_sample_args(batch_size, generator)
        data = self.images()
        self._check_data(data)
        B, N, K, Q, g = batch_size, self.n_way, self.k_shot, self.n_queries, generator
        classes = torch.rand(B, data.n_classes, generator=g).argsort(1)[:, :N]  # [B, N]
        labels = torch.rand(B, N, generator=g).argsort(1)  # [B, N] label of each episode class
        counts = data.count[classes]  # [B, N]
        most = int(counts.max())
        keys = torch.rand(B, N, most, generator=g)
        keys = keys.masked_fill(torch.arange(most) >= counts[..., None], 2.0)
        drawn = keys.argsort(-1)[..., : K + Q]  # [B, N, K+Q] distinct examples per class
        order = torch.rand(B, N * K, generator=g).argsort(1)  # support order
        support_slot = torch.arange(N).repeat_interleave(K)[order]  # [B, N*K]
        support_shot = torch.arange(K).repeat(N)[order]
        query_slot = torch.randint(N, (B, Q), generator=g)  # [B, Q]
        # the i-th query of a class takes its (K + i)-th drawn example
        seen = F.one_hot(query_slot, N).cumsum(1) - 1  # [B, Q, N]
        query_shot = K + seen.gather(2, query_slot[..., None]).squeeze(-1)
        slot = torch.cat([support_slot, query_slot], 1)  # [B, T]
        shot = torch.cat([support_shot, query_shot], 1)
        offset = drawn[torch.arange(B)[:, None], slot, shot]  # [B, T]
        step_class = classes.gather(1, slot)  # [B, T]
        rows = data.start[step_class] + offset
        pixels = data.images[rows].reshape(B, self.seq_len, -1).float() / 255.0  # [B, T, S²]
        y = labels.gather(1, slot)  # [B, T]
        shown = F.one_hot(y, N + 1).float()  # [B, T, N+1]; column N: the no-label slot
        none = F.one_hot(torch.full_like(y[:, :1], N), N + 1).float()  # [B, 1, N+1]
        if self.label_mode == "sync":
            channel = torch.cat([shown[:, : self.n_support], none.expand(B, Q, N + 1)], 1)
            mask = torch.arange(self.seq_len).expand(B, -1) >= self.n_support
        else:
            channel = torch.cat([none, shown[:, :-1]], 1)
            mask = torch.ones(B, self.seq_len, dtype=torch.bool)
        return Episode(torch.cat([pixels, channel], -1), y, mask, step_class)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        x, y, mask, _ = self.episode(batch_size, generator)
        return Batch(x, y, mask)
