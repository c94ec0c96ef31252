"""ListOps: the label is the expression's value (two independent evaluators), limits hold, pure."""

from __future__ import annotations

import statistics

import pytest
import torch

from fastweights.tasks.base import Batch, Task
from fastweights.tasks.listops import (
    CLOSE,
    DIGIT0,
    OP_ID,
    PAD,
    VOCAB,
    ListOps,
    apply_operator,
    decode,
    evaluate_listops,
)

# A second evaluator that shares no code with the task: the text as a Python call expression.
_PY_OPS = {
    "MIN": lambda *a: min(a),
    "MAX": lambda *a: max(a),
    "MED": lambda *a: int(statistics.median(a)),
    "SM": lambda *a: sum(a) % 10,
    "FIRST": lambda *a: a[0],
    "LAST": lambda *a: a[-1],
}


def _python_value(text: str) -> int:
    parts = []
    for word in text.split():
        if word.startswith("["):
            parts.append(word[1:] + "(")
        elif word == "]":
            parts.append("),")
        else:
            parts.append(word + ",")
    return eval("".join(parts).rstrip(","), {"__builtins__": {}}, dict(_PY_OPS))


def _depth(tokens: list[int]) -> int:  # tree levels with the leaves: bracket nesting + 1
    depth = deepest = 0
    for tok in tokens:
        depth += tok in OP_ID.values()
        depth -= tok == CLOSE
        deepest = max(deepest, depth)
    return deepest + 1


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_is_a_token_task() -> None:
    task = ListOps()
    assert isinstance(task, Task)
    assert (task.vocab_size, task.d_input, task.n_out) == (len(VOCAB), 0, 10)


@pytest.mark.parametrize("operators", [("MIN", "MAX", "MED", "SM"), tuple(OP_ID)])
def test_oracles_score_100_percent(operators: tuple[str, ...]) -> None:
    task = ListOps(operators=operators)
    batch = task.sample(128, _gen(0))
    labels = batch.y[batch.mask].tolist()
    assert len(labels) == 128
    parsed = [evaluate_listops(row) for row in batch.x.tolist()]
    in_python = [_python_value(decode(row)) for row in batch.x.tolist()]
    assert parsed == labels
    assert in_python == labels
    assert len(set(labels)) > 5  # the labels vary


def test_mask_at_the_last_token_of_right_padded_rows() -> None:
    x, y, mask = ListOps().sample(64, _gen(1))
    assert x.dtype == y.dtype == torch.int64 and mask.dtype == torch.bool
    assert x.shape == y.shape == mask.shape and x.shape[0] == 64
    lengths = (x != PAD).sum(1)
    assert lengths.max() == x.shape[1]  # padded to the longest row, no further
    for b in range(64):
        n = int(lengths[b])
        assert (x[b, n:] == PAD).all() and (x[b, :n] != PAD).all()  # right padding
        assert mask[b].nonzero().flatten().tolist() == [n - 1]
        assert x[b, n - 1] == CLOSE
    assert ((y >= 0) & (y < 10)).all()


@pytest.mark.parametrize(
    ("max_depth", "min_depth", "max_length"),
    [(10, 2, 200), (10, 10, 600), (15, 15, 800), (4, 3, 30)],
)
def test_every_expression_respects_the_limits(
    max_depth: int, min_depth: int, max_length: int
) -> None:
    task = ListOps(max_depth=max_depth, min_depth=min_depth, max_length=max_length, max_args=4)
    x, _, _ = task.sample(32, _gen(2))
    for row in x.tolist():
        tokens = [t for t in row if t != PAD]
        assert len(tokens) <= max_length
        assert min_depth <= _depth(tokens) <= max_depth
        assert tokens[0] in OP_ID.values()
        # every operator takes 2..max_args arguments
        stack: list[int] = []
        for tok in tokens:
            if tok in OP_ID.values():
                if stack:
                    stack[-1] += 1
                stack.append(0)
            elif tok == CLOSE:
                assert 2 <= stack.pop() <= 4
            else:
                stack[-1] += 1


def test_leaf_prob_one_gives_flat_expressions() -> None:
    x, _, _ = ListOps(leaf_prob=1.0).sample(16, _gen(3))
    assert all(_depth([t for t in row if t != PAD]) == 2 for row in x.tolist())


def test_same_seed_same_batch_and_seeds_differ() -> None:
    task = ListOps()
    a, b, c = task.sample(16, _gen(5)), task.sample(16, _gen(5)), task.sample(16, _gen(6))
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)
    assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x)
    g = _gen(5)
    first, second = task.sample(16, g), task.sample(16, g)  # the generator advances
    assert first.x.shape != second.x.shape or not torch.equal(first.x, second.x)
    assert isinstance(first, Batch)


def test_known_values() -> None:
    assert apply_operator("MED", [1, 2, 3, 4]) == 2  # floor of 2.5
    assert apply_operator("MED", [9, 1, 5]) == 5
    assert apply_operator("SM", [9, 8, 7]) == 4
    assert apply_operator("FIRST", [3, 1]) == 3 and apply_operator("LAST", [3, 1]) == 1
    d = [DIGIT0 + i for i in range(10)]
    expr = [OP_ID["MAX"], d[2], d[9], OP_ID["MIN"], d[4], d[7], CLOSE, d[0], CLOSE, PAD, PAD]
    assert decode(expr) == "[MAX 2 9 [MIN 4 7 ] 0 ]"
    assert evaluate_listops(expr) == 9
    expr = [OP_ID["SM"], d[5], OP_ID["MED"], d[9], d[1], CLOSE, d[3], CLOSE]
    assert evaluate_listops(expr) == (5 + 5 + 3) % 10


@pytest.mark.parametrize(
    "tokens",
    [
        [OP_ID["MAX"], DIGIT0 + 1],  # no closing bracket
        [OP_ID["MAX"], CLOSE],  # no argument
        [OP_ID["MAX"], DIGIT0, CLOSE, DIGIT0],  # trailing token
        [CLOSE],
    ],
)
def test_evaluator_rejects_malformed(tokens: list[int]) -> None:
    with pytest.raises(ValueError):
        evaluate_listops(tokens)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_depth": 1, "min_depth": 1},
        {"min_depth": 5, "max_depth": 4},
        {"max_args": 1},
        {"leaf_prob": 1.5},
        {"leaf_prob": -0.1},
        {"leaf_prob": 1.0, "min_depth": 3},
        {"min_depth": 10, "max_length": 27},
        {"operators": ("MAX", "MEAN")},
        {"operators": ()},
        {"operators": ["MAX"]},
        {"max_depth": 10.0},
    ],
)
def test_bad_config_raises(fields: dict) -> None:
    with pytest.raises(ValueError):
        ListOps(**fields)


def test_unworkable_config_raises_at_sample() -> None:
    task = ListOps(leaf_prob=0.0, max_depth=6, max_length=16)  # every tree is longer than 16
    with pytest.raises(ValueError, match="no expression"):
        task.sample(1, _gen(0))


def test_sample_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        ListOps().sample(0, _gen(0))
    with pytest.raises(TypeError):
        ListOps().sample(2, 0)  # type: ignore[arg-type]
