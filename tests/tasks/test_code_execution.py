"""Code execution: targets are what the program prints (two independent interpreters), pure."""

from __future__ import annotations

import pytest
import torch

from fastweights.tasks.base import Task
from fastweights.tasks.code_execution import (
    NUM0,
    PAD,
    PRINT,
    SEMI,
    VAR0,
    VARIABLE_NAMES,
    CodeExecution,
    execute_code,
    vocabulary,
)


def _python_prints(text: str, lo: int, hi: int) -> list[int | None]:
    """Run the program as Python (shares no code with the task); None for a skipped print.

    Also checks that every defined variable stays in ``[lo, hi]`` after every statement.
    """
    lines = []
    for statement in text.split(" ;")[:-1]:
        statement = statement.strip()
        guard = None
        if statement.startswith("if "):
            guard, statement = statement[3:].split(" : ")
        if statement.startswith("print "):
            body, other = f"out.append({statement[6:]})", "out.append(None)"
        else:
            body = statement.replace(" ++", " += 1").replace(" --", " -= 1")
            other = "pass"
        lines.append(f"if {guard}:\n    {body}\nelse:\n    {other}" if guard else body)
        lines.append("check()")
    env: dict = {"out": []}
    names = list(VARIABLE_NAMES)

    def check() -> None:
        assert all(lo <= env[v] <= hi for v in names if v in env)

    env["check"] = check
    exec("\n".join(lines), env)
    return env["out"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_is_a_token_task() -> None:
    task = CodeExecution()
    assert isinstance(task, Task)
    assert (task.vocab_size, task.d_input, task.n_out) == (len(vocabulary(10)), 0, 25)
    assert CodeExecution(score_skipped_prints=True).n_out == 26


@pytest.mark.parametrize("n_variables", [3, 5])
@pytest.mark.parametrize("skipped", [False, True])
def test_oracles_score_100_percent(n_variables: int, skipped: bool) -> None:
    task = CodeExecution(n_variables=n_variables, n_statements=60, score_skipped_prints=skipped)
    x, y, mask = task.sample(32, _gen(0))
    words = vocabulary(10)
    n_skipped = 0
    for b in range(32):
        row = x[b].tolist()
        printed = execute_code(row)
        in_python = _python_prints(" ".join(words[t] for t in row if t != PAD), -8, 16)
        assert [v for _, v in printed] == in_python
        expected = [
            (pos, task.n_out - 1 if v is None else v + 8)
            for pos, v in printed
            if v is not None or skipped
        ]
        n_skipped += sum(v is None for _, v in printed)
        scored = mask[b].nonzero().flatten().tolist()
        assert scored == [pos for pos, _ in expected]
        assert y[b, scored].tolist() == [c for _, c in expected]
        for pos in scored:  # the ';' that closes a print
            assert row[pos] == SEMI and row[pos - 2] == PRINT
    assert n_skipped > 0  # guarded prints occur and fail sometimes
    assert len(set(y[mask].tolist())) > 5


@pytest.mark.parametrize("n_variables", [3, 5])
def test_program_shape(n_variables: int) -> None:
    task = CodeExecution(n_variables=n_variables, n_statements=40)
    x, y, mask = task.sample(16, _gen(1))
    assert x.dtype == y.dtype == torch.int64 and mask.dtype == torch.bool
    assert x.shape == y.shape == mask.shape
    assert ((x >= 0) & (x < task.vocab_size)).all()
    assert ((y >= 0) & (y < task.n_out)).all()
    assert ((x == SEMI).sum(1) == 40).all()  # one ';' per statement
    variables = x[(x >= VAR0) & (x < NUM0)]
    assert set((variables - VAR0).tolist()) == set(range(n_variables))
    lengths = (x != PAD).sum(1)
    assert lengths.max() == x.shape[1]
    for b in range(16):
        n = int(lengths[b])
        assert (x[b, n:] == PAD).all() and (x[b, :n] != PAD).all()  # right padding
        assert x[b, 1] == vocabulary(10).index("=")  # first statement assigns
        assert x[b, n - 3] == PRINT and mask[b, n - 1]  # last statement prints, unguarded


def test_known_program() -> None:
    words = vocabulary(10)
    text = "x = 5 ; y = 2 ; x ++ ; if y < 3 : y -- ; print y ; if x > 7 : print x ; print x ;"
    tokens = [words.index(w) for w in text.split()]
    assert execute_code(tokens) == [(21, 1), (29, None), (32, 6)]
    with pytest.raises(ValueError):
        execute_code([words.index(w) for w in ["print", "x", ";"]])  # read before assignment
    with pytest.raises(ValueError):
        execute_code([words.index(w) for w in ["x", "=", "5"]])  # ends early


def test_same_seed_same_batch_and_seeds_differ() -> None:
    task = CodeExecution(n_statements=30)
    a, b, c = task.sample(8, _gen(5)), task.sample(8, _gen(5)), task.sample(8, _gen(6))
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)
    assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x)


@pytest.mark.parametrize(
    "fields",
    [
        {"n_variables": 0},
        {"n_variables": 11},
        {"n_variables": 3.0},
        {"n_statements": 1},
        {"max_assign_value": 0},
        {"max_cond_value": 0},
        {"min_value": 1},
        {"max_value": 5},
        {"min_value": 0, "max_value": 0, "max_assign_value": 1},
        {"score_skipped_prints": 1},
    ],
)
def test_bad_config_raises(fields: dict) -> None:
    with pytest.raises(ValueError):
        CodeExecution(**fields)


def test_sample_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        CodeExecution().sample(-1, _gen(0))
    with pytest.raises(TypeError):
        CodeExecution().sample(2, None)  # type: ignore[arg-type]
