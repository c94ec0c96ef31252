"""Text corpora for character-level language modelling: the vendored text and local loaders.

``load_split(corpus, path, split)`` returns one split as ids (a 1-D tensor of the vocabulary's
smallest dtype) and ``load_vocab(corpus, path)`` the vocabulary (``fastweights.tasks.char_vocab``),
both read once per configuration and cached in this module. Nothing is downloaded.

- ``"vendored"``: seven Shakespeare tragedies (993,274 ASCII characters) shipped with the package
  as ``data/shakespeare_tragedies.txt.gz`` (public domain; source and recipe in
  ``data/README.md``). Split contiguously: the first 90% train, the next 5% valid, the last 5%
  test. Vocabulary: the training part's characters plus ``<unk>``.
- ``"wikitext103"`` / ``"wikitext103-raw"``: a directory with ``wiki.{train,valid,test}.tokens``
  (or ``.raw``), Merity et al. 2016 (arXiv:1609.07843), read as UTF-8 characters (not words); the
  vocabulary comes from the training file.
- ``"enwik8"``: the file ``enwik8`` (or a directory holding it), the first 10⁸ bytes of an English
  Wikipedia XML dump (Hutter Prize), read as bytes (256 ids). Standard split: the first 90 M bytes
  train, the next 5 M valid, the last 5 M test. The file must be exactly 10⁸ bytes unless
  ``exact_size=False``, which accepts any non-empty file (a subset, a test file) and splits it in
  the same 90/5/5 proportions (``split_bounds``).

Missing files raise ``FileNotFoundError`` naming what was expected; empty or undecodable files and
an enwik8 of the wrong size raise ``ValueError``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fastweights.tasks.char_vocab import N_CODE_POINTS, CharVocab, count_characters

CORPORA = ("vendored", "wikitext103", "wikitext103-raw", "enwik8")
SPLITS = ("train", "valid", "test")
VENDORED_PATH = Path(__file__).resolve().parent / "data" / "shakespeare_tragedies.txt.gz"
ENWIK8_SIZE = 100_000_000
_CHUNK = 1 << 24  # characters read at a time from a large text file

_VOCABS: dict[tuple[str, str, bool], CharVocab] = {}
_SPLITS: dict[tuple[str, str, bool, str], Tensor] = {}


def split_bounds(n: int, split: str) -> tuple[int, int]:
    """``[start, stop)`` of ``split`` in a text of ``n`` symbols cut 90/5/5 in order (exactly
    90 M / 5 M / 5 M bytes for the standard enwik8)."""
    cuts = (0, n * 9 // 10, n * 19 // 20, n)
    i = SPLITS.index(split)
    return cuts[i], cuts[i + 1]


def wikitext_file(path: str | Path, split: str, raw: bool = False) -> Path:
    """The WikiText-103 file of ``split`` in the directory ``path`` (``FileNotFoundError`` if
    absent)."""
    directory = Path(path)
    name = f"wiki.{split}.{'raw' if raw else 'tokens'}"
    if not directory.is_dir():
        raise FileNotFoundError(
            f"WikiText-103: expected a directory holding {name}, got {str(path)!r}"
        )
    file = directory / name
    if not file.is_file():
        raise FileNotFoundError(f"WikiText-103: expected the file {file}, not found")
    return file


def enwik8_file(path: str | Path) -> Path:
    """The enwik8 file: ``path`` itself, or ``path/enwik8`` when ``path`` is a directory."""
    file = Path(path)
    if file.is_dir():
        file = file / "enwik8"
    if not file.is_file():
        raise FileNotFoundError(f"enwik8: expected the file enwik8 (or its directory), got {file}")
    return file


def check_files(corpus: str, path: str | None, split: str) -> None:
    """Raise ``FileNotFoundError`` now if the files ``split`` needs are missing (cheap: no
    reading)."""
    if corpus == "vendored" and not VENDORED_PATH.is_file():
        raise FileNotFoundError(f"the vendored text is missing: expected {VENDORED_PATH}")
    if corpus.startswith("wikitext103"):
        assert path is not None
        wikitext_file(path, "train", corpus.endswith("raw"))  # the vocabulary's source
        wikitext_file(path, split, corpus.endswith("raw"))
    elif corpus == "enwik8":
        assert path is not None
        enwik8_file(path)


def read_vendored() -> str:
    """The whole vendored text."""
    with gzip.open(VENDORED_PATH, "rt", encoding="ascii", newline="") as stream:
        return stream.read()


def _text_chunks(file: Path) -> Iterator[str]:
    """``file``'s text in chunks (UTF-8, newlines kept as they are); ``ValueError`` if empty or
    not UTF-8."""
    empty = True
    try:
        with file.open(encoding="utf-8", newline="") as stream:
            while chunk := stream.read(_CHUNK):
                empty = False
                yield chunk
    except UnicodeDecodeError as error:
        raise ValueError(f"{file} is not UTF-8 text: {error}") from None
    if empty:
        raise ValueError(f"{file} is empty; expected text")


def _encode_file(file: Path, vocab: CharVocab) -> Tensor:
    parts = [vocab.ids(chunk) for chunk in _text_chunks(file)]
    return torch.from_numpy(np.concatenate(parts))


def read_enwik8(path: str | Path, exact_size: bool = True) -> Tensor:
    """The enwik8 bytes, ``[n]`` uint8 (``n = 10⁸`` unless ``exact_size=False``)."""
    file = enwik8_file(path)
    size = file.stat().st_size
    if exact_size and size != ENWIK8_SIZE:
        raise ValueError(
            f"{file} has {size} bytes; the standard enwik8 has exactly {ENWIK8_SIZE} "
            "(pass exact_size=False to use another size, split 90/5/5)"
        )
    if size == 0:
        raise ValueError(f"{file} is empty; expected bytes")
    return torch.from_numpy(np.fromfile(file, dtype=np.uint8))


def check_corpus(corpus: str, path: str | None) -> None:
    """A known corpus, with a path exactly when it is not the vendored text (``ValueError``)."""
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {corpus!r}")
    if (corpus == "vendored") != (path is None):
        expected = "no path" if corpus == "vendored" else "a path"
        raise ValueError(f"corpus {corpus!r} takes {expected}, got path={path!r}")


def _key(corpus: str, path: str | None, exact_size: bool) -> tuple[str, str, bool]:
    check_corpus(corpus, path)
    where = "" if path is None else str(Path(path).resolve())
    return corpus, where, bool(exact_size)


def _load_whole(key: tuple[str, str, bool]) -> None:
    """Vendored text or enwik8: read it once and cache its vocabulary and its three splits."""
    corpus, path, exact_size = key
    if corpus == "vendored":
        text = read_vendored()
        vocab = CharVocab.from_text(text[: split_bounds(len(text), "train")[1]])
        ids = torch.from_numpy(vocab.ids(text))
    else:
        vocab, ids = CharVocab.byte_level(), read_enwik8(path, exact_size)
    _VOCABS[key] = vocab
    for split in SPLITS:
        start, stop = split_bounds(ids.shape[0], split)
        _SPLITS[(*key, split)] = ids[start:stop]


def load_vocab(corpus: str, path: str | None = None, exact_size: bool = True) -> CharVocab:
    """The corpus's vocabulary (from its training text; bytes for enwik8), cached."""
    key = _key(corpus, path, exact_size)
    if key not in _VOCABS:
        if corpus.startswith("wikitext103"):
            counts = np.zeros(N_CODE_POINTS, dtype=np.int64)
            for chunk in _text_chunks(wikitext_file(key[1], "train", corpus.endswith("raw"))):
                counts += count_characters(chunk)
            _VOCABS[key] = CharVocab.from_counts(counts)
        else:
            _load_whole(key)
    return _VOCABS[key]


def load_split(corpus: str, path: str | None, split: str, exact_size: bool = True) -> Tensor:
    """One split of the corpus as ids, ``[n]`` (dtype ``vocab.dtype``, as torch), cached."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    key = _key(corpus, path, exact_size)
    if (*key, split) not in _SPLITS:
        vocab = load_vocab(corpus, path, exact_size)  # a whole-file corpus: every split too
        if corpus.startswith("wikitext103"):
            file = wikitext_file(key[1], split, corpus.endswith("raw"))
            _SPLITS[(*key, split)] = _encode_file(file, vocab)
    return _SPLITS[(*key, split)]


def clear_cache() -> None:
    """Forget every loaded corpus (e.g. after the files on disk changed)."""
    _VOCABS.clear()
    _SPLITS.clear()
