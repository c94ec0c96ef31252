"""Character-level language modelling: predict the next character (or byte) of a real text.

Language modelling is how the FWP papers test their models on real text: Schlag, Irie,
Schmidhuber, "Linear Transformers Are Secretly Fast Weight Programmers", ICML 2021
(arXiv:2102.11174) and Irie, Schlag, Csordás, Schmidhuber, "Going Beyond Linear Transformers with
Recurrent Fast Weight Programmers", NeurIPS 2021 (arXiv:2106.06295) train word-level language
models on WikiText-103. This task is the character-level form: WikiText-103 read as characters,
enwik8 as bytes (the standard byte-level benchmark), or the vendored Shakespeare text, which needs
no download. Corpora: ``fastweights.tasks.text``.

Batch layout (``sample``): ``B`` windows of ``seq_len + 1`` consecutive symbols at uniform random
offsets of the split, ``x = w[:, :-1]``, ``y = w[:, 1:]`` (``[B, seq_len]`` int64: ``y[b, t]`` is
the symbol after ``x[b, t]``), ``mask`` all True. ``windows(batch_size)`` instead covers the whole
split once, in order, for exact evaluation (bits per character = mean cross-entropy / ln 2).

``streams(batch_size)`` gives a ``TextStreams`` sampler for truncated backpropagation through
time: row ``b`` of batch ``n + 1`` continues row ``b`` of batch ``n``, so a trainer may carry each
row's state from step to step (``fastweights.train.carry``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from fastweights.tasks.base import Batch
from fastweights.tasks.char_vocab import CharVocab
from fastweights.tasks.text import SPLITS, check_corpus, check_files, load_split, load_vocab
from fastweights.tasks.text_windows import TextStreams, ordered_windows, random_windows


@dataclass(frozen=True)
class CharLM:
    """Next-character prediction on a split of a text corpus (see the module docstring).

    Fields:

    - ``corpus``: ``"vendored"`` (Shakespeare tragedies shipped with the package, no ``path``),
      ``"wikitext103"`` / ``"wikitext103-raw"`` (``path``: the directory with
      ``wiki.{train,valid,test}.tokens`` / ``.raw``) or ``"enwik8"`` (``path``: the file
      ``enwik8`` or its directory; bytes, vocabulary 256);
    - ``seq_len``: the length of a window (``x`` and ``y`` are ``[B, seq_len]``);
    - ``split``: ``"train"``, ``"valid"`` or ``"test"``;
    - ``exact_size``: enwik8 only; ``False`` accepts an enwik8 of any size (split 90/5/5).

    Construction is cheap (it only checks that the files exist); the text is read on first use
    and cached per corpus. ``vocab_size = n_out`` = the training text's characters + ``<unk>``
    (256 bytes for enwik8).
    """

    corpus: str = "vendored"
    path: str | None = None
    seq_len: int = 128
    split: str = "train"
    exact_size: bool = True
    char_level: ClassVar[bool] = True  # the training code reports bits per character

    def __post_init__(self) -> None:
        if self.path is not None:
            if not isinstance(self.path, (str, os.PathLike)):
                raise TypeError(f"path must be a str or a path, got {type(self.path).__name__}")
            object.__setattr__(self, "path", os.fspath(self.path))  # plain str: JSON configs
        check_corpus(self.corpus, self.path)
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 1:
            raise ValueError(f"seq_len must be an int >= 1, got {self.seq_len!r}")
        if not isinstance(self.exact_size, bool):
            raise TypeError(f"exact_size must be a bool, got {type(self.exact_size).__name__}")
        if not self.exact_size and self.corpus != "enwik8":
            raise ValueError(f"exact_size=False applies to enwik8 only, not {self.corpus!r}")
        check_files(self.corpus, self.path, self.split)

    # --- what the model needs -------------------------------------------------------------

    @property
    def vocab(self) -> CharVocab:
        return load_vocab(self.corpus, self.path, self.exact_size)

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.vocab_size

    # --- the text -------------------------------------------------------------------------

    @property
    def data(self) -> Tensor:
        """The split's symbols as ids, ``[n]`` (stored in the smallest integer dtype)."""
        return load_split(self.corpus, self.path, self.split, self.exact_size)

    @property
    def n_symbols(self) -> int:
        """The split's length in characters (bytes for enwik8)."""
        return int(self.data.shape[0])

    def encode(self, text: str) -> Tensor:
        """``text`` as a LongTensor of ids ``[n]`` (characters outside the vocabulary → ``<unk>``;
        enwik8: the UTF-8 bytes)."""
        return self.vocab.encode(text)

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Ids (any shape, read in order) back to text (``<unk>`` → ``�``)."""
        return self.vocab.decode(ids)

    # --- splits ---------------------------------------------------------------------------

    def train_split(self) -> CharLM:
        return replace(self, split="train")

    def valid_split(self) -> CharLM:
        return replace(self, split="valid")

    def test_split(self) -> CharLM:
        """The same corpus and window length on the test split."""
        return replace(self, split="test")

    # --- batches --------------------------------------------------------------------------

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return random_windows(self.data, self.seq_len, batch_size, generator, self._name(),
                              "symbols")  # fmt: skip

    def windows(self, batch_size: int) -> Iterator[Batch]:
        """Every next-symbol prediction of the split exactly once, in order, for exact evaluation.

        The ``n - 1`` predictions are cut into ``R <= batch_size`` contiguous streams of
        ``m = ceil((n - 1) / batch_size)``; batch ``i`` holds window ``i`` (``seq_len`` positions)
        of every stream. So row ``b`` of successive batches reads one stretch of text without
        gaps, and a model may carry its state from batch to batch (or start afresh each batch).
        Positions past a stream's end are padding: ``mask`` False, ``x = y = 0``.
        """
        return ordered_windows(self.data, self.seq_len, batch_size, self._name(), "symbols")

    def _name(self) -> str:
        return f"the {self.split} split of {self.corpus!r}"

    def streams(self, batch_size: int) -> TextStreams:
        """A sampler of ``batch_size`` streams through this split (``TextStreams``)."""
        return TextStreams(self.data, self.seq_len, batch_size, self._name(), "symbols")
