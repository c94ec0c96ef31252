"""ListOps: evaluate a nested prefix expression of list operators over the digits 0–9.

Nangia & Bowman 2018, "ListOps: A Diagnostic Dataset for Latent Tree Learning"
(arXiv:1804.06028), in the form used by Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond
Linear Transformers with Recurrent Fast Weight Programmers" (arXiv:2106.06295)::

    [MAX 2 9 [MIN 4 7 ] 0 ]   ->   9

The generator follows the official one (IDSIA/recurrent-fwp, ``algorithmic/utils/nyu_listops.py``):
the root is an operator; below it a node is a digit with probability ``leaf_prob`` (and always at
``max_depth``), else an operator with 2..``max_args`` arguments. Depth counts the tree's levels
with the digit leaves, as there: ``[MAX 1 2 ]`` has depth 2, bracket nesting is depth − 1.
Expressions outside ``[min_depth, max_depth]`` or longer than ``max_length`` tokens are redrawn
(``min_depth == max_depth`` is the official ``only_depth``).

Batch: ``x`` token ids ``[B, T]``, right-padded with ``PAD`` to the longest row; the label (0–9)
is read at each row's last token (its closing bracket): ``mask`` is True there only and ``y``
holds the label there (0 elsewhere). :func:`evaluate_listops` is the independent evaluator of a
token sequence (a recursive parser), the tests' oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fastweights.tasks.base import Batch, check_sample_args

PAD = 0
DIGIT0 = 1  # digits 0..9 are ids 1..10
CLOSE = 11
OPERATORS = ("MIN", "MAX", "MED", "SM", "FIRST", "LAST")  # ids 12..17; SM is sum modulo 10
OP_ID = {name: 12 + i for i, name in enumerate(OPERATORS)}
VOCAB = ("<pad>", *(str(d) for d in range(10)), "]", *(f"[{name}" for name in OPERATORS))

_MAX_TRIES = 10_000  # redraws per expression before the configuration is declared unworkable


def apply_operator(name: str, args: Sequence[int]) -> int:
    """The value of operator ``name`` on the digits ``args`` (MED: floor of the median)."""
    if name == "MIN":
        return min(args)
    if name == "MAX":
        return max(args)
    if name == "SM":
        return sum(args) % 10
    if name == "FIRST":
        return args[0]
    if name == "LAST":
        return args[-1]
    if name == "MED":
        s = sorted(args)
        return (s[(len(s) - 1) // 2] + s[len(s) // 2]) // 2
    raise ValueError(f"unknown ListOps operator {name!r}; expected one of {OPERATORS}")


def evaluate_listops(tokens: Sequence[int]) -> int:
    """Parse one expression's token ids (trailing ``PAD`` ignored) and return its value."""
    toks = list(tokens)
    while toks and toks[-1] == PAD:
        toks.pop()
    names = {i: name for name, i in OP_ID.items()}

    def parse(pos: int) -> tuple[int, int]:  # -> (value, position after the expression)
        if pos >= len(toks):
            raise ValueError("ListOps expression ends early")
        tok = toks[pos]
        if DIGIT0 <= tok < DIGIT0 + 10:
            return tok - DIGIT0, pos + 1
        if tok not in names:
            raise ValueError(f"unexpected token id {tok} at position {pos}")
        args, pos = [], pos + 1
        while pos < len(toks) and toks[pos] != CLOSE:
            value, pos = parse(pos)
            args.append(value)
        if pos >= len(toks) or not args:
            raise ValueError("ListOps operator without arguments or closing bracket")
        return apply_operator(names[tok], args), pos + 1

    value, end = parse(0)
    if end != len(toks):
        raise ValueError(f"trailing tokens after the expression (position {end})")
    return value


def decode(tokens: Sequence[int]) -> str:
    """Token ids as text, e.g. ``'[MAX 2 9 ]'`` (``PAD`` dropped)."""
    return " ".join(VOCAB[t] for t in tokens if t != PAD)


class _TooLong(Exception):
    """Raised inside the generator once an expression passes ``max_length``."""


class _Uniforms:
    """Uniform draws in [0, 1) from ``generator``, fetched in blocks of ``block``."""

    def __init__(self, generator: torch.Generator, block: int = 4096) -> None:
        self.generator, self.block, self.buf, self.pos = generator, block, [], 0

    def random(self) -> float:
        if self.pos == len(self.buf):
            draw = torch.rand(self.block, generator=self.generator, dtype=torch.float64)
            self.buf, self.pos = draw.tolist(), 0
        self.pos += 1
        return self.buf[self.pos - 1]

    def randint(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return min(int(self.random() * n), n - 1)


@dataclass(frozen=True)
class ListOps:
    """Nested MIN/MAX/MED/SM expressions over digits; predict the value (0–9) at the last token.

    ``operators`` may also use ``FIRST`` and ``LAST``; the vocabulary (:data:`VOCAB`) always holds
    all six, so token ids do not depend on the choice.
    """

    max_depth: int = 10
    min_depth: int = 2
    max_args: int = 5
    leaf_prob: float = 0.75
    max_length: int = 200
    operators: tuple[str, ...] = ("MIN", "MAX", "MED", "SM")

    @property
    def vocab_size(self) -> int:
        return len(VOCAB)

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return 10

    def __post_init__(self) -> None:
        for name in ("max_depth", "min_depth", "max_args", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if self.min_depth < 2:
            raise ValueError(
                f"min_depth must be >= 2 (an operator over digits), got {self.min_depth}"
            )
        if self.max_depth < self.min_depth:
            raise ValueError(
                f"max_depth must be >= min_depth={self.min_depth}, got {self.max_depth}"
            )
        if self.max_args < 2:
            raise ValueError(f"max_args must be >= 2, got {self.max_args}")
        if not isinstance(self.leaf_prob, (int, float)) or not 0.0 <= self.leaf_prob <= 1.0:
            raise ValueError(f"leaf_prob must be in [0, 1], got {self.leaf_prob!r}")
        if self.leaf_prob == 1.0 and self.min_depth > 2:
            raise ValueError(f"leaf_prob=1 gives depth 2 only, but min_depth={self.min_depth}")
        shortest = 3 * self.min_depth - 2  # a chain of min_depth-1 operators with 2 args each
        if self.max_length < shortest:
            raise ValueError(
                f"max_length must be >= {shortest} for min_depth={self.min_depth}, "
                f"got {self.max_length}"
            )
        ops = self.operators
        if not isinstance(ops, tuple) or not ops or any(op not in OPERATORS for op in ops):
            raise ValueError(f"operators must be a non-empty tuple from {OPERATORS}, got {ops!r}")

    def _tree(self, rnd: _Uniforms, depth: int, out: list[int]) -> tuple[int, int]:
        """Append one subtree at level ``depth`` to ``out``: (its value, deepest level reached)."""
        if len(out) >= self.max_length:  # stop early: too long already, it will be redrawn
            raise _TooLong
        if depth > 1 and (depth >= self.max_depth or rnd.random() < self.leaf_prob):
            digit = rnd.randint(10)
            out.append(DIGIT0 + digit)
            return digit, depth
        op = self.operators[rnd.randint(len(self.operators))]
        out.append(OP_ID[op])
        values, deepest = [], depth
        for _ in range(2 + rnd.randint(self.max_args - 1)):
            value, sub_depth = self._tree(rnd, depth + 1, out)
            values.append(value)
            deepest = max(deepest, sub_depth)
        out.append(CLOSE)
        return apply_operator(op, values), deepest

    def _expression(self, rnd: _Uniforms) -> tuple[list[int], int]:
        for _ in range(_MAX_TRIES):
            tokens: list[int] = []
            try:
                value, depth = self._tree(rnd, 1, tokens)
            except _TooLong:
                continue
            if self.min_depth <= depth and len(tokens) <= self.max_length:
                return tokens, value
        raise ValueError(
            f"no expression within min_depth={self.min_depth} and max_length={self.max_length} "
            f"in {_MAX_TRIES} draws: lower min_depth, raise max_length or raise leaf_prob"
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        rnd = _Uniforms(generator)
        rows = [self._expression(rnd) for _ in range(batch_size)]
        T = max(len(tokens) for tokens, _ in rows)
        x = torch.full((batch_size, T), PAD, dtype=torch.int64)
        y = torch.zeros(batch_size, T, dtype=torch.int64)
        mask = torch.zeros(batch_size, T, dtype=torch.bool)
        for b, (tokens, value) in enumerate(rows):
            x[b, : len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
            y[b, len(tokens) - 1] = value
            mask[b, len(tokens) - 1] = True
        return Batch(x, y, mask)
