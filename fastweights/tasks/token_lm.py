"""Subword and word-level language modelling on any local text (``TokenLM``).

The FWP papers' language models read words (Schlag et al. 2021, arXiv:2102.11174; Irie et al.
2021, arXiv:2106.06295: WikiText-103, perplexity); modern ones read subwords. This task tokenizes
a text with a tokenizer trained locally on its training part (``fastweights.tasks.tokenizer``:
byte-level BPE, or WikiText's words with ``<eos>`` per line) and predicts the next token.

Texts (``path``): None is the vendored Shakespeare text (``fastweights.tasks.text``); a file is
read as UTF-8 and cut 90/5/5 in order into train/valid/test; a folder holding WikiText-103's
``wiki.{train,valid,test}.tokens`` (or ``.raw``) gives those splits; any other folder is its
``*.txt`` files in name order, joined by newlines, cut 90/5/5. With ``tokenizer`` (a saved
``tokenizer.json``) that tokenizer is used, else one is trained on the training split; a run
saves it in its directory (``save_artifacts``) and records its fingerprint, and a different
tokenizer file is refused. Batches are windows of tokens, as ``CharLM``'s: ``sample`` at random
offsets, ``windows`` the whole split in order for exact bits per token and perplexity, ``streams``
the split as ``batch_size`` streams for truncated BPTT.

Documents (``split_documents``): WikiText's articles (a new one at each `` = Title = `` line), a
folder's files, and in any text the sections that three or more empty lines separate (the
vendored text's scenes). With ``pack=True`` a sampled window is a ``PackedBatch``: ``starts``
marks each document's first token and no target crosses a boundary (``mask`` is False at a
document's last token), so a model that runs each piece alone (``run_batch``) never reads one
document from another. The whole-split scores (``windows``) read the split as one stream.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import Tensor

from fastweights.tasks.base import Batch, PackedBatch
from fastweights.tasks.text import SPLITS, read_vendored, split_bounds
from fastweights.tasks.text_windows import TextStreams, ordered_windows, random_windows
from fastweights.tasks.tokenizer import (
    TOKENIZATIONS,
    fingerprint,
    load_tokenizer,
    train_tokenizer,
    word_lines,
)

_ENCODE_LINES = 10_000  # lines per encode_batch call
SECTION_BREAK = re.compile(r"\n{4,}")  # three or more empty lines end a document
WIKITEXT_TITLE = re.compile(r"^ = [^=].* = $", re.MULTILINE)  # an article's first line
FILE_BREAK = "\n" * 4  # between the files of a folder: a section break


class Encoded(NamedTuple):
    """A split as token ids ``[n]`` int32, ``starts [n]`` bool (a document's first token) and the
    number of characters of its text."""

    ids: Tensor
    starts: Tensor
    characters: int


_LOADED: dict[tuple[Any, ...], tuple[Any, dict[str, Encoded]]] = {}


def split_documents(text: str, wikitext: bool = False) -> list[str]:
    """``text`` cut into its documents, which join back to ``text``: at WikiText's article
    titles (``wikitext``), else after every run of three or more empty lines."""
    if wikitext:
        cuts = [m.start() for m in WIKITEXT_TITLE.finditer(text)]
    else:
        cuts = [m.end() for m in SECTION_BREAK.finditer(text)]
    bounds = [0, *(c for c in cuts if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def is_wikitext(path: str | None) -> bool:
    """Whether ``path`` is a folder of WikiText-103's split files."""
    return path is not None and any(
        (Path(path) / f"wiki.train.{suffix}").is_file() for suffix in ("tokens", "raw")
    )


def read_texts(path: str | None) -> dict[str, str]:
    """``{split: text}`` of a text source (see the module docstring)."""
    if path is None:
        return _cut(read_vendored(), "the vendored text")
    source = Path(path)
    if source.is_file():
        return _cut(_read(source), str(source))
    if not source.is_dir():
        raise FileNotFoundError(f"no text file or folder {source}")
    for suffix in ("tokens", "raw"):
        if (source / f"wiki.train.{suffix}").is_file():
            return {split: _read(source / f"wiki.{split}.{suffix}") for split in SPLITS}
    files = sorted(source.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"{source} holds no *.txt files and no WikiText-103 files")
    return _cut(FILE_BREAK.join(_read(file) for file in files), str(source))


def _read(file: Path) -> str:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file} is not UTF-8 text: {error}") from None
    if not text.strip():
        raise ValueError(f"{file} is empty; expected text")
    return text


def _cut(text: str, name: str) -> dict[str, str]:
    parts = {split: text[slice(*split_bounds(len(text), split))] for split in SPLITS}
    short = [split for split, part in parts.items() if not part.strip()]
    if short:
        raise ValueError(f"{name} is too short to cut 90/5/5: its {short} part is empty")
    return parts


@dataclass(frozen=True)
class TokenLM:
    """Next-token prediction on a split of a local text (see the module docstring).

    Fields: ``path`` (None: the vendored text), ``tokenization`` (``"bpe"`` or ``"word"``),
    ``max_vocab`` (BPE: the vocabulary it trains to; word: the most frequent words kept, 0 for
    all), ``seq_len`` (tokens per window), ``split``, ``tokenizer`` (a ``tokenizer.json`` to use
    instead of training one), ``tokenizer_sha256`` (the fingerprint the tokenizer must have) and
    ``pack`` (sampled windows as packed documents).
    """

    path: str | None = None
    tokenization: str = "bpe"
    max_vocab: int = 2048
    seq_len: int = 128
    split: str = "train"
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None
    pack: bool = False
    token_level: ClassVar[bool] = True  # the training code reports bits per token, perplexity

    def __post_init__(self) -> None:
        for name in ("path", "tokenizer"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, (str, os.PathLike)):
                    raise TypeError(f"{name} must be a str or a path, got {type(value).__name__}")
                object.__setattr__(self, name, os.fspath(value))  # plain str: JSON configs
        if self.tokenization not in TOKENIZATIONS:
            raise ValueError(f"tokenization must be one of {TOKENIZATIONS}, "
                             f"got {self.tokenization!r}")  # fmt: skip
        least = 0 if self.tokenization == "word" else 257  # BPE: the 256 bytes and a merge
        if isinstance(self.max_vocab, bool) or not isinstance(self.max_vocab, int) or (
            self.max_vocab < least
        ):  # fmt: skip
            raise ValueError(f"max_vocab must be an int >= {least} for {self.tokenization}, "
                             f"got {self.max_vocab!r}")  # fmt: skip
        if isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 1:
            raise ValueError(f"seq_len must be an int >= 1, got {self.seq_len!r}")
        if not isinstance(self.pack, bool):
            raise ValueError(f"pack must be true or false, got {self.pack!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.path is not None and not Path(self.path).exists():
            raise FileNotFoundError(f"no text file or folder {self.path}")

    # --- the tokenizer and the text -------------------------------------------------------

    def _loaded(self) -> tuple[Any, dict[str, Encoded]]:
        key = (self.path, self.tokenization, self.max_vocab, self.tokenizer, self.tokenizer_sha256)
        if key not in _LOADED:
            texts = read_texts(self.path)
            if self.tokenizer is not None:
                tokenizer = load_tokenizer(self.tokenizer)
            else:
                tokenizer = train_tokenizer(self._pieces(texts["train"]), self.tokenization,
                                            self.max_vocab)  # fmt: skip
            if (
                self.tokenizer_sha256 is not None
                and fingerprint(tokenizer) != self.tokenizer_sha256
            ):
                raise ValueError(f"the tokenizer {self.tokenizer or '(trained)'} does not match "
                                 f"the run's (sha256 {self.tokenizer_sha256[:12]}…)")  # fmt: skip
            wikitext = is_wikitext(self.path)
            encoded = {split: self._encode_all(tokenizer, split_documents(text, wikitext))
                       for split, text in texts.items()}  # fmt: skip
            _LOADED[key] = tokenizer, encoded
        return _LOADED[key]

    def _pieces(self, text: str) -> Iterator[str]:
        if self.tokenization == "word":
            yield from word_lines(text)
        else:
            yield from text.splitlines(keepends=True)

    def _encode_all(self, tokenizer: Any, documents: list[str]) -> Encoded:
        pieces, first = [], []  # the pieces of all documents; the index of each one's first
        for document in documents:
            first.append(len(pieces))
            pieces.extend(self._pieces(document))
        lengths = np.zeros(len(pieces) + 1, dtype=np.int64)
        parts = [np.array([], dtype=np.int32)]
        for i in range(0, len(pieces), _ENCODE_LINES):
            for j, encoding in enumerate(tokenizer.encode_batch(pieces[i : i + _ENCODE_LINES])):
                parts.append(np.asarray(encoding.ids, dtype=np.int32))
                lengths[i + j + 1] = len(encoding.ids)
        ids = torch.from_numpy(np.concatenate(parts))
        offsets = np.cumsum(lengths)[first]  # each document's first token
        starts = torch.zeros(len(ids), dtype=torch.bool)
        starts[torch.from_numpy(offsets[offsets < len(ids)])] = True
        return Encoded(ids, starts, sum(len(d) for d in documents))

    @property
    def vocab_size(self) -> int:
        return int(self._loaded()[0].get_vocab_size())

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.vocab_size

    @property
    def data(self) -> Tensor:
        """The split's tokens as ids, ``[n]`` int32."""
        return self._loaded()[1][self.split].ids

    @property
    def starts(self) -> Tensor:
        """``[n]`` bool: True at the first token of each document of the split."""
        return self._loaded()[1][self.split].starts

    @property
    def characters(self) -> int:
        """The characters of the split's text (bits per character = bits / characters)."""
        return self._loaded()[1][self.split].characters

    def encode(self, text: str) -> Tensor:
        """``text`` as token ids ``[n]`` (int64)."""
        tokenizer = self._loaded()[0]
        ids = [i for piece in self._pieces(text) for i in tokenizer.encode(piece).ids]
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        ids = ids.reshape(-1).tolist() if isinstance(ids, Tensor) else list(ids)
        return self._loaded()[0].decode(ids, skip_special_tokens=False)

    def save_artifacts(self, run_dir: str | Path) -> TokenLM:
        """Save the tokenizer as ``run_dir/tokenizer.json``; the task that reads it back."""
        tokenizer = self._loaded()[0]
        file = Path(run_dir) / "tokenizer.json"
        tokenizer.save(str(file))
        return replace(self, tokenizer=str(file), tokenizer_sha256=fingerprint(tokenizer))

    # --- splits and batches ---------------------------------------------------------------

    def train_split(self) -> TokenLM:
        return replace(self, split="train")

    def valid_split(self) -> TokenLM:
        return replace(self, split="valid")

    def test_split(self) -> TokenLM:
        return replace(self, split="test")

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch | PackedBatch:
        """``B`` windows at random offsets; with ``pack``, as packed documents."""
        starts = self.starts if self.pack else None
        return random_windows(self.data, self.seq_len, batch_size, generator, self._name(),
                              starts=starts)  # fmt: skip

    def windows(self, batch_size: int) -> Iterator[Batch]:
        """Every next-token prediction of the split once, in order (``CharLM.windows``)."""
        return ordered_windows(self.data, self.seq_len, batch_size, self._name())

    def streams(self, batch_size: int) -> TextStreams:
        """A sampler of ``batch_size`` streams through this split (``TextStreams``)."""
        if self.pack:
            raise ValueError("a packed TokenLM starts every document afresh; streams carry a "
                             "state across them: set pack=false for truncated BPTT")  # fmt: skip
        return TextStreams(self.data, self.seq_len, batch_size, self._name())

    def _name(self) -> str:
        return f"the {self.split} split of {self.path or 'the vendored text'} ({self.tokenization})"
