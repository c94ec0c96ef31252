"""Text in and out of a checkpoint directory's model: its ``tokenizer.json``, or token ids.

``CheckpointText(folder)`` encodes a prompt and decodes generated ids with the directory's
Hugging Face ``tokenizer.json`` (read by the ``tokenizers`` package, imported only then). A
directory without one takes and gives space-separated token ids ("4 17 2").
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor


class CheckpointText:
    """Encode/decode for the model of a checkpoint directory."""

    def __init__(self, folder: str | Path, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.tokenizer = None
        file = Path(folder) / "tokenizer.json"
        if file.is_file():
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise ImportError(f"{file} needs the tokenizers package: pip install "
                                  "'fastweights[fla]'") from None  # fmt: skip
            try:
                self.tokenizer = Tokenizer.from_file(str(file))
            except Exception as error:  # tokenizers raises its own exception types
                raise ValueError(f"{file} is not a readable tokenizer: {error}") from None

    def encode(self, text: str) -> Tensor:
        """``text`` -> ids ``[T]`` (int64)."""
        if self.tokenizer is not None:
            ids = self.tokenizer.encode(text).ids
        else:
            try:
                ids = [int(part) for part in text.split()]
            except ValueError:
                raise ValueError(f"this checkpoint has no tokenizer.json: give the input as "
                                 f"space-separated token ids, got {text!r}") from None  # fmt: skip
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if not ids or bad:
            raise ValueError(f"the input must be token ids in 0..{self.vocab_size - 1}, got "
                             f"{ids if not ids else bad}")  # fmt: skip
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: Tensor) -> str:
        if self.tokenizer is not None:
            return self.tokenizer.decode(ids.tolist())
        return " ".join(str(i) for i in ids.tolist())

    def labels(self, ids: Tensor) -> list[str]:
        """One label per token, for pictures: its piece of text, or its id."""
        if self.tokenizer is None:
            return [str(i) for i in ids.tolist()]
        return [self.tokenizer.id_to_token(i) or str(i) for i in ids.tolist()]
