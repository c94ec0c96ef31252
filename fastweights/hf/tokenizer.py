"""Tokenizers that transformers (``AutoTokenizer``) and lm-eval read, for a model's vocabulary.

- A subword or word-level run's ``tokenizer.json`` (``fastweights.tasks.tokenizer``) is used as
  it is.
- A character-level run's ``CharVocab`` becomes a ``tokenizers`` tokenizer with the same ids
  (``char_tokenizer``): every character is one token (a ``Split`` of each character, the
  ``WordLevel`` table ``character -> id``, decoding by joining), characters outside the
  vocabulary -> its ``<unk>`` id (written U+FFFD, as ``CharVocab.decode`` writes it). The
  byte-level vocabulary (enwik8) maps each UTF-8 byte to its id through the byte-to-character
  table of GPT-2's byte-level BPE.

``fast_tokenizer`` wraps one as a ``PreTrainedTokenizerFast`` with special tokens, as lm-eval
needs an end token (its prefix of an empty context) and a pad token: ``<unk>`` where the
vocabulary has one; the end token ``<eos>`` (word level), else ``<unk>`` (characters), else the
token of byte 0 (byte-level BPE and bytes: a NUL, which no text holds); the pad token ``<unk>``,
else the end token (the model never reads a padded position, so any id works).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastweights.tasks.char_vocab import UNK_TEXT, CharVocab


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError("tokenizers for Hugging Face need the tokenizers package: "
                          "pip install 'fastweights[hf]'") from None  # fmt: skip
    return tokenizers


def byte_characters() -> list[str]:
    """The character of each byte 0..255 in GPT-2's byte-level alphabet (printable bytes as
    themselves, the others moved to 256 + n)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def char_tokenizer(vocab: CharVocab) -> Any:
    """A ``tokenizers.Tokenizer`` with ``vocab``'s ids (see the module docstring)."""
    tk = _tokenizers()
    every_char = tk.pre_tokenizers.Split(tk.Regex(r"[\s\S]"), behavior="isolated")
    if vocab.chars is None:
        table = {c: b for b, c in enumerate(byte_characters())}
        tokenizer = tk.Tokenizer(tk.models.WordLevel(table, unk_token=None))
        tokenizer.pre_tokenizer = tk.pre_tokenizers.Sequence(
            [tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False), every_char]
        )
        tokenizer.decoder = tk.decoders.ByteLevel()
        return tokenizer
    unk = UNK_TEXT if UNK_TEXT not in vocab.chars else "<unk>"
    table = {c: i for i, c in enumerate(vocab.chars)} | {unk: vocab.unk_id}
    tokenizer = tk.Tokenizer(tk.models.WordLevel(table, unk_token=unk))
    tokenizer.pre_tokenizer = every_char
    tokenizer.decoder = tk.decoders.Fuse()
    tokenizer.add_special_tokens([unk])
    return tokenizer


def fast_tokenizer(tokenizer: Any) -> Any:
    """``tokenizer`` (a ``tokenizers.Tokenizer``) as a ``PreTrainedTokenizerFast`` with the
    special tokens lm-eval needs (see the module docstring)."""
    from transformers import PreTrainedTokenizerFast

    vocab = tokenizer.get_vocab(with_added_tokens=True)
    unk = getattr(tokenizer.model, "unk_token", None)
    unk = unk if unk in vocab else None
    nul = byte_characters()[0]  # byte 0 in a byte-level vocabulary: never in a text
    eos = next((t for t in ("<eos>", unk, nul) if t is not None and t in vocab), None)
    specials = {"unk_token": unk, "eos_token": eos, "pad_token": unk or eos}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, **{k: v for k, v in specials.items() if v is not None}
    )


def tokenizer_of(folder: str | Path, task: Any = None) -> tuple[Any, str]:
    """The tokenizer of a run or checkpoint directory, and what it is: the directory's
    ``tokenizer.json``, else the task's tokenizer file (a ``TokenLM``'s ``tokenizer``), else the
    task's ``CharVocab`` as a character tokenizer; ``(None, "none")`` if there is none."""
    tk = _tokenizers()
    files = [Path(folder) / "tokenizer.json"]
    if isinstance(getattr(task, "tokenizer", None), str):
        files.append(Path(task.tokenizer))
    for file in files:
        if file.is_file():
            try:
                return tk.Tokenizer.from_file(str(file)), f"{file.name} ({file})"
            except Exception as error:  # tokenizers raises its own exception types
                raise ValueError(f"{file} is not a readable tokenizer: {error}") from None
    vocab = getattr(task, "vocab", None)
    if isinstance(vocab, CharVocab):
        kind = "bytes" if vocab.chars is None else "characters"
        return char_tokenizer(vocab), f"character-level ({vocab.size} tokens: {kind})"
    return None, "none"
