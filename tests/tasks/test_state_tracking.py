"""StateTracking: an independent oracle (permutations composed as Python tuples, residues added
as ints) reproduces every target; the layout, padding, lengths and the test split."""

from __future__ import annotations

import itertools

import pytest
import torch

from fastweights.tasks import TASKS
from fastweights.tasks.state_tracking import StateTracking, multiplication_table


def _oracle(group: str, ids: list[int]) -> list[int]:
    """The running products ``p_t = g_t · p_{t-1}``, from the group's definition."""
    kind, n = group[0], int(group[1:])
    if kind == "Z":
        return [sum(ids[: t + 1]) % n for t in range(len(ids))]
    perms = list(itertools.permutations(range(n)))
    out, p = [], None
    for i in ids:
        g = perms[i]
        p = g if p is None else tuple(g[p[j]] for j in range(n))  # g after p
        out.append(perms.index(p))
    return out


@pytest.mark.parametrize("group", ["S3", "Z5", "Z2", "S4"])
def test_targets_are_the_running_products(group: str) -> None:
    task = StateTracking(group=group, min_length=1, max_length=20)
    x, y, mask = task.sample(64, torch.Generator().manual_seed(3))
    for row_x, row_y, row_m in zip(x.tolist(), y.tolist(), mask.tolist(), strict=True):
        n = sum(row_m)
        assert row_m == [True] * n + [False] * (len(row_m) - n)
        assert row_y[:n] == _oracle(group, row_x[:n])
        assert all(i == task.pad_id for i in row_x[n:]) and all(i == 0 for i in row_y[n:])


def test_s3_is_non_abelian_and_its_table_a_group() -> None:
    M = multiplication_table("S3")
    assert (
        M.shape == (6, 6)
        and torch.equal(M[0], torch.arange(6))
        and torch.equal(M[:, 0], torch.arange(6))
    )
    for row in M:  # a Latin square: every product once per row and column
        assert sorted(row.tolist()) == list(range(6))
    assert not torch.equal(M, M.T)  # some a·b != b·a
    a, b = 1, 3  # (0 2 1) and (1 2 0): a hand-checked product, a[b[j]] = (2, 1, 0)
    assert list(itertools.permutations(range(3)))[int(M[a, b])] == (2, 1, 0)


def test_z2_targets_are_the_prefix_parity() -> None:
    x, y, mask = StateTracking("Z2", 5, 9).sample(32, torch.Generator().manual_seed(0))
    parity = (x * mask).cumsum(1) % 2
    assert torch.equal(y[mask], parity[mask])


def test_lengths_vocab_and_test_split() -> None:
    task = TASKS["state_tracking"](group="S3", min_length=4, max_length=8)
    assert (task.vocab_size, task.n_out, task.d_input, task.pad_id) == (7, 6, 0, 6)
    _, _, mask = task.sample(256, torch.Generator().manual_seed(1))
    assert set(mask.sum(1).tolist()) == set(range(4, 9))
    longer = task.test_split()
    assert (longer.min_length, longer.max_length, longer.group) == (9, 16, "S3")
    _, _, mask = longer.sample(64, torch.Generator().manual_seed(1))
    assert int(mask.sum(1).min()) >= 9 and int(mask.sum(1).max()) <= 16


@pytest.mark.parametrize(
    "fields",
    [{"group": "S6"}, {"group": "Z1"}, {"group": "D4"}, {"min_length": 0},
     {"min_length": 5, "max_length": 4}],
)  # fmt: skip
def test_bad_fields_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        StateTracking(**fields)
