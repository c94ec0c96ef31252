"""Tokenizers trained locally on a training text: byte-level BPE, or WikiText's words.

- ``"bpe"``: byte-level BPE (Sennrich et al. 2016, arXiv:1508.07909; the byte-level form of
  GPT-2, Radford et al. 2019): the 256 bytes plus the merges learnt on the training text until
  ``vocab_size`` tokens. Every text encodes (no unknown token), and decoding gives it back.
- ``"word"``: the word level of the FWP papers' WikiText-103 (Merity et al. 2016,
  arXiv:1609.07843): tokens split at whitespace, ``<eos>`` at the end of every line, the
  vocabulary every word of the training text (``vocab_size > 0`` keeps the most frequent), words
  outside it -> ``<unk>``.

Built with Hugging Face ``tokenizers`` (the ``lm`` extra, imported only here), trained
deterministically, and saved as the standard ``tokenizer.json`` that ``tokenizers`` and
``transformers`` read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

TOKENIZATIONS = ("bpe", "word")
EOS = "<eos>"
UNK = "<unk>"


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            "subword and word language models need the tokenizers package: "
            "pip install 'fastweights[lm]'"
        ) from None
    return tokenizers


def word_lines(text: str) -> Iterator[str]:
    """The word level's lines, each ending in ``<eos>`` (WikiText's convention)."""
    for line in text.splitlines():
        yield f"{line} {EOS}"


def train_tokenizer(text: Iterable[str], tokenization: str, vocab_size: int) -> Any:
    """A ``tokenizers.Tokenizer`` trained on the pieces of ``text`` (see the module docstring)."""
    tk = _tokenizers()
    if tokenization == "bpe":
        tokenizer = tk.Tokenizer(tk.models.BPE())
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size, show_progress=False,
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        )  # fmt: skip
    elif tokenization == "word":
        tokenizer = tk.Tokenizer(tk.models.WordLevel(unk_token=UNK))
        tokenizer.pre_tokenizer = tk.pre_tokenizers.WhitespaceSplit()
        trainer = tk.trainers.WordLevelTrainer(
            vocab_size=vocab_size or 2**31 - 1, special_tokens=[UNK, EOS], show_progress=False
        )
    else:
        raise ValueError(f"tokenization must be one of {TOKENIZATIONS}, got {tokenization!r}")
    tokenizer.train_from_iterator(text, trainer)
    return tokenizer


def load_tokenizer(path: str | Path) -> Any:
    """A saved ``tokenizer.json`` (``FileNotFoundError`` / ``ValueError`` if missing or bad)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no tokenizer file {file}")
    try:
        return _tokenizers().Tokenizer.from_file(str(file))
    except Exception as error:  # tokenizers raises its own exception types
        raise ValueError(f"{file} is not a readable tokenizer.json: {error}") from None


def fingerprint(tokenizer: Any) -> str:
    """The SHA-256 of a tokenizer's JSON: two runs share a tokenizer iff these are equal."""
    return hashlib.sha256(tokenizer.to_str().encode()).hexdigest()
