"""Formal-language recognition by character prediction, with length generalisation.

The languages of Irie, Csordás, Schmidhuber, "Practical Computational Power of Linear Transformers
and Their Recurrent and Self-Referential Extensions", EMNLP 2023 (arXiv:2310.16076), who took their
data from Bhattamishra, Ahuja, Goyal, "On the Ability and Limitations of Transformers to Recognize
Formal Languages", EMNLP 2020 (arXiv:2009.11264; code ``satwik77/Transformer-Formal-Languages``).

**Character prediction** (Gers & Schmidhuber 2001; Suzgun et al. 2019; Bhattamishra et al. 2020):
the model reads a string ``w_1 … w_n`` of the language, and after each prefix ``w_1 … w_t`` it
predicts the *set* of symbols that may come next — every ``σ`` such that ``w_1 … w_t σ`` is a
prefix of some string of the language, plus an end-of-string symbol EOS when ``w_1 … w_t`` is
itself in the language. A string counts as recognised when every position's set is right.
For parity this set is constant except EOS (allowed iff the prefix has an even number of 1s), so
the target is the prefix parity at every position, as in Bhattamishra's parity data.

Batch layout: ``x: [B, T]`` int64 symbol ids (``0 … k-1``; ``pad_id = k`` after a string's end);
``y: [B, T, k + 1]`` float32 multi-hot (column ``j < k``: symbol ``j`` may follow; column ``k``:
EOS); ``mask: [B, T]`` True on the string's positions. ``T`` is the longest string in the batch.
Lengths are uniform over the lengths in ``[min_length, max_length]`` that the language has.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import ClassVar

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args

# language -> its alphabet (symbol id = position in the tuple); "r" is reset Dyck-1's reset symbol
ALPHABETS: dict[str, tuple[str, ...]] = {
    "parity": ("0", "1"),
    "aa*": ("a",),
    "abab*": ("a", "b"),
    "anbn": ("a", "b"),
    "anbncn": ("a", "b", "c"),
    "shuffle2": ("(", ")", "[", "]"),
    "dyck1": ("(", ")"),
    "reset_dyck1": ("(", ")", "r"),
}
LANGUAGES = tuple(ALPHABETS)
EOS = "<eos>"


def _has_length(language: str, n: int) -> bool:
    """Whether the language has strings of length ``n >= 1``."""
    if language in ("parity", "reset_dyck1"):
        return True
    if language == "abab*":
        return n % 4 == 0
    if language == "anbncn":
        return n % 3 == 0
    return n % 2 == 0  # aa*, anbn, shuffle2, dyck1


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@lru_cache(maxsize=8)
def _p_open(max_length: int) -> Tensor:
    """``P[d, r]``: the chance that a uniform Dyck-1 completion from depth ``d`` with ``r`` steps
    left opens next: ``N(d+1, r-1) / N(d, r)``, ``N`` the number of such completions (ballot
    numbers, exact in Python ints). Shape ``[max_length + 2, max_length + 1]`` float64."""
    L = max_length
    N = [[0] * (L + 1) for _ in range(L + 2)]  # N[d][r]
    N[0][0] = 1
    for r in range(1, L + 1):
        for d in range(L + 1):
            N[d][r] = N[d + 1][r - 1] + (N[d - 1][r - 1] if d > 0 else 0)
    P = torch.zeros(L + 2, L + 1, dtype=torch.float64)
    for d in range(L + 1):
        for r in range(1, L + 1):
            if N[d][r]:
                P[d, r] = N[d + 1][r - 1] / N[d][r]
    return P


def _dyck_words(n: Tensor, T: int, generator: torch.Generator) -> Tensor:
    """Uniform Dyck-1 words of (even) lengths ``n: [B]`` as ``[B, T]`` bool (True = open), any
    value after ``n``."""
    P = _p_open(max(T, 1))
    B = n.shape[0]
    u = torch.rand(B, T, generator=generator, dtype=torch.float64)
    depth = torch.zeros(B, dtype=torch.int64)
    opens = torch.zeros(B, T, dtype=torch.bool)
    for t in range(T):
        r = (n - t).clamp(min=0)
        o = u[:, t] < P[depth, r]  # P is 0 when r == 0, so steps past the end stay closes
        opens[:, t] = o
        depth = torch.where(r > 0, depth + torch.where(o, 1, -1), depth)
    return opens


def _dyck_prefixes(T: int, B: int, generator: torch.Generator) -> Tensor:
    """Random walks that never go below 0 (prefixes of Dyck-1 words), ``[B, T]`` bool (True =
    open): open at depth 0, else open or close with probability 1/2 each."""
    coin = torch.rand(B, T, generator=generator) < 0.5
    depth = torch.zeros(B, dtype=torch.int64)
    opens = torch.zeros(B, T, dtype=torch.bool)
    for t in range(T):
        o = coin[:, t] | (depth == 0)
        opens[:, t] = o
        depth = depth + torch.where(o, 1, -1)
    return opens


def _gather(src: Tensor, index: Tensor) -> Tensor:
    return torch.gather(src, 1, index.clamp(0, src.shape[1] - 1))


def _strings(language: str, n: Tensor, T: int, generator: torch.Generator) -> Tensor:
    """Strings of the language with lengths ``n: [B]`` as ids ``[B, T]`` (any id after ``n``)."""
    B = n.shape[0]
    t = torch.arange(T).expand(B, T)  # [B, T] positions
    nn = n[:, None]  # [B, 1]
    if language == "parity":
        bits = torch.randint(0, 2, (B, T), generator=generator) * (t < nn - 1)
        last = bits.sum(1, keepdim=True) % 2  # the last symbol makes the count of 1s even
        return torch.where(t == nn - 1, last, bits)
    if language == "aa*":
        return torch.zeros(B, T, dtype=torch.int64)
    if language == "abab*":
        return t % 2
    if language == "anbn":
        return (t >= nn // 2).long()
    if language == "anbncn":
        return (t >= nn // 3).long() + (t >= 2 * (nn // 3)).long()
    if language == "dyck1":
        return (~_dyck_words(n, T, generator)).long()
    if language == "shuffle2":
        # n = n1 + n2 (both even, the split uniform); a uniform interleaving of two Dyck-1 words
        n1 = 2 * (torch.rand(B, generator=generator) * (n // 2 + 1)).long()
        n2 = n - n1
        w1 = (~_dyck_words(n1, T, generator)).long()  # ids 0, 1
        w2 = (~_dyck_words(n2, T, generator)).long() + 2  # ids 2, 3
        keys = torch.rand(B, T, generator=generator).masked_fill(t >= nn, 2.0)
        rank = keys.argsort(1).argsort(1)  # [B, T] rank of each position's key
        first = rank < n1[:, None]  # positions that carry the first word
        i1 = first.long().cumsum(1) - 1
        i2 = (~first).long().cumsum(1) - 1
        return torch.where(first, _gather(w1, i1), _gather(w2, i2))
    if language == "reset_dyck1":
        # as Bhattamishra et al.: a prefix of a Dyck-1 word, one reset, a Dyck-1 word of length m
        m = 2 * (torch.rand(B, generator=generator) * ((n - 1) // 2 + 1)).long()
        p = (n - 1 - m)[:, None]  # [B, 1] the reset's position
        prefix = (~_dyck_prefixes(T, B, generator)).long()
        word = (~_dyck_words(m, T, generator)).long()
        after = _gather(word, t - p - 1)
        return torch.where(t < p, prefix, torch.where(t == p, 2, after))
    raise AssertionError(language)


def _targets(language: str, x: Tensor) -> Tensor:
    """Multi-hot next-symbol sets after each prefix, ``[B, T, k + 1]`` (last column: EOS)."""
    k = len(ALPHABETS[language])
    B, T = x.shape
    c = [(x == j).long().cumsum(1) for j in range(k)]  # per-symbol counts in the prefix
    length = torch.arange(1, T + 1).expand(B, T)
    one = torch.ones(B, T, dtype=torch.bool)
    if language == "parity":
        cols = [one, one, c[1] % 2 == 0]
    elif language == "aa*":
        cols = [one, length % 2 == 0]
    elif language == "abab*":
        cols = [length % 2 == 0, length % 2 == 1, length % 4 == 0]
    elif language == "anbn":
        a, b = c
        cols = [b == 0, b < a, (b == a) & (b > 0)]
    elif language == "anbncn":
        a, b, cc = c
        full = (b == a) & (cc == a) & (a > 0)
        cols = [(b == 0) & (cc == 0), (cc == 0) & (b < a), (b == a) & (cc < b), full]
    elif language == "dyck1":
        d = c[0] - c[1]
        cols = [one, d > 0, d == 0]
    elif language == "shuffle2":
        d1, d2 = c[0] - c[1], c[2] - c[3]
        cols = [one, d1 > 0, one, d2 > 0, (d1 == 0) & (d2 == 0)]
    elif language == "reset_dyck1":
        d = torch.zeros(B, T, dtype=torch.int64)
        depth = torch.zeros(B, dtype=torch.int64)
        for t in range(T):  # the reset sets the counter back to 0
            step = torch.where(x[:, t] == 0, 1, torch.where(x[:, t] == 1, -1, 0))
            depth = torch.where(x[:, t] == 2, 0, depth + step)
            d[:, t] = depth
        cols = [one, d > 0, one, d == 0]
    else:
        raise AssertionError(language)
    return torch.stack(cols, dim=-1).float()


@dataclass(frozen=True)
class FormalLanguage:
    """Recognise a formal language by character prediction (see the module docstring).

    Fields:

    - ``language``: one of ``LANGUAGES`` — ``parity`` (even number of 1s over {0, 1}), ``aa*``
      ((aa)*), ``abab*`` ((abab)*), ``anbn`` (aⁿbⁿ, n ≥ 1), ``anbncn`` (aⁿbⁿcⁿ, n ≥ 1),
      ``shuffle2`` (shuffle of two Dyck-1 languages over ``( )`` and ``[ ]``), ``dyck1``,
      ``reset_dyck1`` (Dyck-1 over ``( )`` where the symbol ``r`` resets the counter);
    - ``min_length``, ``max_length``: string lengths (default 1–50, the papers' training bin);
      ``test_split()`` gives the same task on longer strings (default 51–100, their "Bin 1").
    """

    language: str = "parity"
    min_length: int = 1
    max_length: int = 50
    target_kind: ClassVar[str] = "multilabel"  # y: the set of allowed next symbols

    def __post_init__(self) -> None:
        if self.language not in ALPHABETS:
            raise ValueError(f"language must be one of {LANGUAGES}, got {self.language!r}")
        _check_int("min_length", self.min_length, 1)
        _check_int("max_length", self.max_length, self.min_length)
        if not self.lengths:
            raise ValueError(
                f"{self.language} has no strings with lengths in "
                f"[{self.min_length}, {self.max_length}]"
            )

    @property
    def symbols(self) -> tuple[str, ...]:
        """The alphabet; symbol id ``j`` is ``symbols[j]``, target column ``j`` too."""
        return ALPHABETS[self.language]

    @property
    def lengths(self) -> tuple[int, ...]:
        """The string lengths drawn (uniformly)."""
        span = range(self.min_length, self.max_length + 1)
        return tuple(n for n in span if _has_length(self.language, n))

    @property
    def pad_id(self) -> int:
        return len(self.symbols)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols) + 1

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return len(self.symbols) + 1

    def test_split(self, min_length: int | None = None, max_length: int | None = None):
        """The same language on longer strings: ``[max_length + 1, 2 · max_length]`` unless
        given."""
        lo = self.max_length + 1 if min_length is None else min_length
        hi = 2 * self.max_length if max_length is None else max_length
        return replace(self, min_length=lo, max_length=hi)

    def decode(self, x: Tensor) -> list[str]:
        """Token ids ``[B, T]`` back to strings (padding dropped); symbols joined without spaces."""
        return ["".join(self.symbols[i] for i in row if i != self.pad_id) for row in x.tolist()]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        lengths = torch.tensor(self.lengths)
        pick = torch.randint(0, len(lengths), (batch_size,), generator=generator)
        n = lengths[pick]  # [B]
        T = int(n.max())
        mask = torch.arange(T)[None, :] < n[:, None]  # [B, T]
        x = _strings(self.language, n, T, generator).masked_fill(~mask, self.pad_id)
        y = _targets(self.language, x) * mask[..., None]
        return Batch(x, y, mask)
