"""Copy and Reverse: a sanity task for sequence memory.

A random string ``s = s_1 … s_n`` over ``n_symbols`` symbols, a separator, then the string again
(``mode="copy"``) or reversed (``mode="reverse"``), read as next-token prediction (teacher
forcing): the full sequence ``s SEP s'`` is shifted by one, so

- ``x = [s_1, …, s_n, SEP, s'_1, …, s'_{n-1}]`` (``2n`` steps), ``[B, T]`` int64 padded with
  ``pad_id``;
- ``y[n-1+j] = s'_j`` for ``j = 1 … n`` (positions ``n … 2n-1``; the separator predicts
  ``s'_1``), ``[B, T]`` int64, 0 elsewhere;
- ``mask`` True exactly on those ``n`` output positions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from fastweights.tasks.base import Batch, check_sample_args

MODES = ("copy", "reverse")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Copy:
    """Repeat (``mode="copy"``) or reverse (``mode="reverse"``) a random string after a separator.

    Fields: ``n_symbols`` (string alphabet; ids ``0 … n_symbols-1``, ``sep_id = n_symbols``,
    ``pad_id = n_symbols + 1``), ``min_length``/``max_length`` (string length ``n``, uniform;
    default 1–20; ``test_split()`` gives ``max_length + 1 … 2 · max_length``), ``mode``.
    """

    n_symbols: int = 8
    min_length: int = 1
    max_length: int = 20
    mode: str = "copy"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        _check_int("n_symbols", self.n_symbols, 1)
        _check_int("min_length", self.min_length, 1)
        _check_int("max_length", self.max_length, self.min_length)

    @property
    def sep_id(self) -> int:
        return self.n_symbols

    @property
    def pad_id(self) -> int:
        return self.n_symbols + 1

    @property
    def vocab_size(self) -> int:
        return self.n_symbols + 2

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.n_symbols

    def test_split(self, min_length: int | None = None, max_length: int | None = None):
        """The same task on longer strings: ``[max_length + 1, 2 · max_length]`` unless given."""
        lo = self.max_length + 1 if min_length is None else min_length
        hi = 2 * self.max_length if max_length is None else max_length
        return replace(self, min_length=lo, max_length=hi)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        B = batch_size
        n = torch.randint(self.min_length, self.max_length + 1, (B,), generator=generator)
        L = int(n.max())
        T = 2 * L
        nn = n[:, None]  # [B, 1]
        j = torch.arange(L).expand(B, L)  # [B, L]
        s = torch.randint(0, self.n_symbols, (B, L), generator=generator)
        reverse = self.mode == "reverse"  # s' = s reversed, by index n - 1 - j
        out = torch.gather(s, 1, (nn - 1 - j).clamp(min=0)) if reverse else s
        t = torch.arange(T).expand(B, T)  # [B, T]
        # full sequence z = [s, SEP, s'] of length 2n + 1; x = z[:-1], y = z[1:]
        src = torch.where(t < nn, _take(s, t), _take(out, t - nn - 1))
        x = torch.where(t == nn, self.sep_id, src)
        x = x.masked_fill(t >= 2 * nn, self.pad_id)
        mask = (t >= nn) & (t < 2 * nn)
        y = torch.where(mask, _take(out, t - nn), 0)
        return Batch(x, y, mask)


def _take(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(src, 1, index.clamp(0, src.shape[1] - 1))


@dataclass(frozen=True)
class Reverse(Copy):
    """``Copy`` with ``mode="reverse"``: the target is the string reversed."""

    mode: str = "reverse"
