"""Character and byte vocabularies for language modelling: text ↔ ids.

Two kinds, one class:

- **characters** (``CharVocab(chars)``): the sorted distinct characters of a training text, ids
  ``0 … len(chars) - 1`` in that order, plus one ``<unk>`` id, ``len(chars)``, for any character
  outside them (in a valid/test text or a prompt); ``decode`` writes ``<unk>`` as U+FFFD (``�``).
  Built deterministically: the same text gives the same vocabulary.
- **bytes** (``CharVocab.byte_level()``, for enwik8): the 256 byte values, no ``<unk>``; ``encode``
  takes a string's UTF-8 bytes and ``decode`` reads bytes as UTF-8 (invalid sequences → ``�``).

Encoding is vectorised with numpy (a string's UTF-32 code points through a lookup table), so the
hundreds of megabytes of a real corpus are a few array passes, not a Python loop per character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

UNK_TEXT = "\ufffd"  # how decode writes the <unk> id
N_CODE_POINTS = 0x110000  # Unicode's code space


def code_points(text: str) -> np.ndarray:
    """The code points of ``text``, ``[len(text)]`` uint32."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def count_characters(text: str) -> np.ndarray:
    """How often each code point occurs in ``text``: ``[0x110000]`` int64."""
    return np.bincount(code_points(text), minlength=N_CODE_POINTS)


def _check_ids(ids: Tensor | Sequence[int], size: int) -> list[int]:
    if isinstance(ids, Tensor):
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"ids must be an integer tensor, got dtype {ids.dtype}")
        ids = ids.reshape(-1).tolist()
    values = list(ids)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in values):
        raise TypeError("ids must be ints")
    bad = [i for i in values if not 0 <= i < size]
    if bad:
        raise ValueError(f"ids must lie in [0, {size}), got {bad[0]}")
    return values


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary (``chars``, sorted, plus ``<unk>``) or, with ``chars=None``, the
    256 byte values (see the module docstring)."""

    chars: tuple[str, ...] | None

    def __post_init__(self) -> None:
        if self.chars is None:
            return
        if not isinstance(self.chars, tuple) or not self.chars:
            raise ValueError("chars must be a non-empty tuple of characters")
        if any(not isinstance(c, str) or len(c) != 1 for c in self.chars):
            raise ValueError("chars must be single characters")
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("chars must be sorted and distinct")

    @classmethod
    def byte_level(cls) -> CharVocab:
        """The byte-level vocabulary (256 ids)."""
        return cls(None)

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> CharVocab:
        """The characters with a non-zero count in ``counts`` (``[0x110000]``, by code point)."""
        present = np.flatnonzero(counts)  # sorted code points
        if present.size == 0:
            raise ValueError("cannot build a vocabulary from an empty text")
        return cls(tuple(chr(int(c)) for c in present))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted distinct characters of ``text``, plus ``<unk>``."""
        return cls.from_counts(count_characters(text))

    @property
    def size(self) -> int:
        """Number of ids: 256 for bytes, else ``len(chars) + 1`` (``<unk>`` included)."""
        return 256 if self.chars is None else len(self.chars) + 1

    @property
    def unk_id(self) -> int | None:
        """The id of characters outside the vocabulary (``None`` for bytes)."""
        return None if self.chars is None else len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """The smallest numpy dtype that holds every id (how corpora are stored)."""
        if self.size <= 256:
            return np.dtype(np.uint8)
        return np.dtype(np.int16 if self.size <= np.iinfo(np.int16).max + 1 else np.int32)

    @cached_property
    def _table(self) -> np.ndarray:
        """code point -> id, up to the largest code point in the vocabulary."""
        assert self.chars is not None
        cps = np.array([ord(c) for c in self.chars], dtype=np.int64)
        table = np.full(int(cps.max()) + 1, len(self.chars), dtype=np.int32)
        table[cps] = np.arange(len(self.chars), dtype=np.int32)
        return table

    def ids(self, text: str) -> np.ndarray:
        """``text`` as ids, ``[n]`` of ``self.dtype`` (n = characters, or UTF-8 bytes)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self.chars is None:
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()
        cps = code_points(text).astype(np.int64)
        table = self._table
        inside = cps < table.shape[0]
        out = np.where(inside, table[np.where(inside, cps, 0)], len(self.chars))
        return out.astype(self.dtype)

    def encode(self, text: str) -> Tensor:
        """``text`` as a LongTensor of ids ``[n]``."""
        return torch.from_numpy(self.ids(text).astype(np.int64))

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Ids (any shape, read in order) back to text; ``<unk>`` → ``�``."""
        values = _check_ids(ids, self.size)
        if self.chars is None:
            return bytes(values).decode("utf-8", errors="replace")
        chars = (*self.chars, UNK_TEXT)
        return "".join(chars[i] for i in values)
