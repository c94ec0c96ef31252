"""Code execution: read a straight-line program token by token and output what it prints.

Fan, Lavril, Grave, Joulin, Sukhbaatar 2020, "Addressing Some Limitations of Transformers with
Feedback Memory" (arXiv:2002.09402), as used by Irie, Schlag, Csordás, Schmidhuber 2021
(arXiv:2106.06295) with 3 and 5 variables. The format follows the official generator
(IDSIA/recurrent-fwp, ``algorithmic/utils/data_generator.py``)::

    x = 5 ; y = 2 ; x ++ ; if y < 3 : y -- ; print y ; print x ;
                                                    ^1         ^6   (targets at those ';')

``n_statements`` statements, each drawn uniformly among assign (``v = n ;``, n in
``[0, max_assign_value)``), increment/decrement (``v ++ ;`` / ``v -- ;``), ``print v ;`` and a
conditional ``if v < n :`` / ``if v > n :`` (n in ``[0, max_cond_value)``) guarding one
non-conditional statement. The first statement assigns, the last prints; only variables already
assigned are read. A ``++``/``--`` that would leave ``[min_value, max_value]`` is turned into the
other one (judged on the current value, executed or not). A guarded statement runs only if its
condition holds; a guarded assignment defines its variable only then.

One difference from the official script, on purpose: there a guarded assignment to a variable
that is already defined never changes its value, even when the condition holds (its bookkeeping
only applies a guarded assignment to a new variable). Here it does, as Python would.

Batch: ``x`` token ids ``[B, T]``, right-padded with ``PAD``; at the ``;`` closing each executed
``print`` the target is the printed value as class ``value - min_value`` and ``mask`` is True.
``n_out = max_value - min_value + 1`` value classes. With ``score_skipped_prints=True`` the ``;``
of a print whose condition failed is scored too, with the extra class ``n_out - 1`` ("nothing
printed"), as the official targets do with their no-output token. :func:`execute_code` is the
independent interpreter of a token sequence, the tests' oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fastweights.tasks.base import Batch, check_sample_args

VARIABLE_NAMES = ("x", "y", "z", "a", "b", "c", "d", "e", "f", "g")  # as the official generator
KEYWORDS = ("<pad>", ";", "=", "++", "--", "print", "if", "<", ">", ":")
PAD, SEMI, ASSIGN, INC, DEC, PRINT, IF, LESS, GREATER, COLON = range(len(KEYWORDS))
VAR0 = len(KEYWORDS)  # variables are ids VAR0.., then the number literals 0, 1, ...
NUM0 = VAR0 + len(VARIABLE_NAMES)


def vocabulary(n_literals: int) -> tuple[str, ...]:
    """Input token strings by id, for ``n_literals`` number literals (0..n_literals-1)."""
    return (*KEYWORDS, *VARIABLE_NAMES, *(str(n) for n in range(n_literals)))


def execute_code(tokens: Sequence[int]) -> list[tuple[int, int | None]]:
    """Run one program's token ids; for each ``print``, (position of its ``;``, value or None).

    ``None`` marks a print whose guard failed. Trailing ``PAD`` is ignored; malformed programs and
    reads of unassigned variables raise ``ValueError``.
    """
    toks = list(tokens)
    while toks and toks[-1] == PAD:
        toks.pop()
    env: dict[int, int] = {}
    out: list[tuple[int, int | None]] = []

    def expect(pos: int, kind: str) -> int:
        if pos >= len(toks):
            raise ValueError(f"program ends early, expected {kind}")
        tok = toks[pos]
        ok = {
            "variable": VAR0 <= tok < NUM0,
            "number": tok >= NUM0,
            ";": tok == SEMI,
            ":": tok == COLON,
        }[kind]
        if not ok:
            raise ValueError(f"expected {kind} at position {pos}, got token id {tok}")
        return tok

    def read(var: int, pos: int) -> int:
        if var not in env:
            raise ValueError(f"variable read before assignment at position {pos}")
        return env[var]

    def simple(pos: int, run: bool) -> int:  # one non-conditional statement; -> next position
        if pos < len(toks) and toks[pos] == PRINT:
            var = expect(pos + 1, "variable")
            expect(pos + 2, ";")
            out.append((pos + 2, read(var, pos + 1) if run else None))
            return pos + 3
        var = expect(pos, "variable")
        op = toks[pos + 1] if pos + 1 < len(toks) else None
        if op == ASSIGN:
            number = expect(pos + 2, "number") - NUM0
            expect(pos + 3, ";")
            if run:
                env[var] = number
            return pos + 4
        if op in (INC, DEC):
            expect(pos + 2, ";")
            if run:
                env[var] = read(var, pos) + (1 if op == INC else -1)
            return pos + 3
        raise ValueError(f"expected '=', '++' or '--' at position {pos + 1}")

    pos = 0
    while pos < len(toks):
        if toks[pos] == IF:
            var = expect(pos + 1, "variable")
            cmp = toks[pos + 2] if pos + 2 < len(toks) else None
            if cmp not in (LESS, GREATER):
                raise ValueError(f"expected '<' or '>' at position {pos + 2}")
            number = expect(pos + 3, "number") - NUM0
            expect(pos + 4, ":")
            value = read(var, pos + 1)
            holds = value < number if cmp == LESS else value > number
            pos = simple(pos + 5, holds)
        else:
            pos = simple(pos, True)
    return out


class _Uniforms:
    """Uniform draws in [0, 1) from ``generator``, fetched in blocks of ``block``."""

    def __init__(self, generator: torch.Generator, block: int = 4096) -> None:
        self.generator, self.block, self.buf, self.pos = generator, block, [], 0

    def randint(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        if self.pos == len(self.buf):
            draw = torch.rand(self.block, generator=self.generator, dtype=torch.float64)
            self.buf, self.pos = draw.tolist(), 0
        self.pos += 1
        return min(int(self.buf[self.pos - 1] * n), n - 1)


@dataclass(frozen=True)
class CodeExecution:
    """Programs over ``n_variables`` variables (3 or 5 in the papers); output the printed values."""

    n_variables: int = 3
    n_statements: int = 100
    max_assign_value: int = 10
    max_cond_value: int = 10
    min_value: int = -8
    max_value: int = 16
    score_skipped_prints: bool = False

    @property
    def vocab_size(self) -> int:
        return NUM0 + max(self.max_assign_value, self.max_cond_value)

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.max_value - self.min_value + 1 + int(self.score_skipped_prints)

    def __post_init__(self) -> None:
        for name in ("n_variables", "n_statements", "max_assign_value", "max_cond_value"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("min_value", "max_value"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if self.n_variables > len(VARIABLE_NAMES):
            raise ValueError(
                f"n_variables must be <= {len(VARIABLE_NAMES)}, got {self.n_variables}"
            )
        if self.n_statements < 2:
            raise ValueError(f"n_statements must be >= 2 (assign, print), got {self.n_statements}")
        if not (self.min_value <= 0 and self.max_assign_value - 1 <= self.max_value):
            raise ValueError(
                f"[min_value, max_value] = [{self.min_value}, {self.max_value}] must hold the "
                f"assigned values 0..{self.max_assign_value - 1}"
            )
        if self.min_value == self.max_value:
            raise ValueError("min_value < max_value is needed for ++/-- to stay in range")
        if not isinstance(self.score_skipped_prints, bool):
            raise ValueError(
                f"score_skipped_prints must be a bool, got {self.score_skipped_prints!r}"
            )

    def _simple(self, rnd: _Uniforms, env: dict[int, int], run: bool, kind: int) -> list[int]:
        """Tokens of one non-conditional statement of ``kind`` (0 assign, 1 ++/--, 2 print)."""
        if kind == 0:
            var, number = rnd.randint(self.n_variables), rnd.randint(self.max_assign_value)
            if run:
                env[var] = number
            return [VAR0 + var, ASSIGN, NUM0 + number, SEMI]
        var = list(env)[rnd.randint(len(env))]
        if kind == 2:
            return [PRINT, VAR0 + var, SEMI]
        step = 1 if rnd.randint(2) == 0 else -1
        if not self.min_value <= env[var] + step <= self.max_value:
            step = -step
        if run:
            env[var] += step
        return [VAR0 + var, INC if step == 1 else DEC, SEMI]

    def _program(self, rnd: _Uniforms) -> tuple[list[int], list[tuple[int, int | None]]]:
        tokens: list[int] = []
        prints: list[tuple[int, int | None]] = []  # (position of the print's ';', value or None)
        env: dict[int, int] = {}  # the variables defined so far (insertion order: deterministic)
        for i in range(self.n_statements):
            kind = 0 if i == 0 else 2 if i == self.n_statements - 1 else rnd.randint(4)
            run = True
            if kind == 3:
                var = list(env)[rnd.randint(len(env))]
                less, number = rnd.randint(2) == 0, rnd.randint(self.max_cond_value)
                run = env[var] < number if less else env[var] > number
                tokens += [IF, VAR0 + var, LESS if less else GREATER, NUM0 + number, COLON]
                kind = rnd.randint(3)
            statement = self._simple(rnd, env, run, kind)
            tokens += statement
            if kind == 2:
                var = statement[1] - VAR0
                prints.append((len(tokens) - 1, env[var] if run else None))
        return tokens, prints

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        rnd = _Uniforms(generator)
        rows = [self._program(rnd) for _ in range(batch_size)]
        T = max(len(tokens) for tokens, _ in rows)
        x = torch.full((batch_size, T), PAD, dtype=torch.int64)
        y = torch.zeros(batch_size, T, dtype=torch.int64)
        mask = torch.zeros(batch_size, T, dtype=torch.bool)
        skipped = self.n_out - 1
        for b, (tokens, prints) in enumerate(rows):
            x[b, : len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
            for pos, value in prints:
                if value is not None:
                    y[b, pos], mask[b, pos] = value - self.min_value, True
                elif self.score_skipped_prints:
                    y[b, pos], mask[b, pos] = skipped, True
        return Batch(x, y, mask)
