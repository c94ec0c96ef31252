"""AssociativeRetrieval: the format, the oracle (latest value) and the paper's settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fastweights.tasks.base import Task
from fastweights.tasks.retrieval import AssociativeRetrieval, retrieval_loss


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def decode(task: AssociativeRetrieval, x: torch.Tensor):
    """Per step: key id, value id (-1 at a query), query flag."""
    nk, nv = task.n_keys, task.n_values
    keys = x[..., :nk].argmax(-1)
    vpart = x[..., nk : nk + nv]
    values = torch.where(vpart.sum(-1) > 0, vpart.argmax(-1), -1)
    return keys, values, x[..., -1] == 1


def dict_solver(task: AssociativeRetrieval, x: torch.Tensor, *, keep: str) -> torch.Tensor:
    """Reads x step by step, stores key→value (latest or earliest write), answers queries."""
    keys, values, is_query = decode(task, x)
    pred = torch.zeros(x.shape[0], x.shape[1], task.n_values)
    for b in range(x.shape[0]):
        memory: dict[int, int] = {}
        for t in range(x.shape[1]):
            k = int(keys[b, t])
            if is_query[b, t]:
                pred[b, t, memory[k]] = 1.0  # KeyError if a query asks an unseen key
            elif keep == "latest" or k not in memory:
                memory[k] = int(values[b, t])
    return pred


def masked_mse(pred: torch.Tensor, batch) -> float:
    return float((pred - batch.y).pow(2)[batch.mask].mean())


CONFIGS = [
    AssociativeRetrieval("capacity", n_pairs=20),
    AssociativeRetrieval("capacity", n_pairs=7, n_keys=30, n_values=12, n_queries=5),
    AssociativeRetrieval("editing", n_pairs=20),
    AssociativeRetrieval("editing", n_pairs=6, n_keys=4, n_values=9, n_queries=10),
]


def test_paper_defaults() -> None:
    cap = AssociativeRetrieval("capacity", n_pairs=40)
    assert (cap.n_keys, cap.n_values, cap.n_writes, cap.seq_len) == (40, 40, 40, 41)
    edit = AssociativeRetrieval("editing", n_pairs=80)
    assert (edit.n_keys, edit.n_values, edit.n_writes, edit.seq_len) == (80, 80, 160, 161)
    assert (edit.vocab_size, edit.d_input, edit.n_out) == (0, 80 + 80 + 1, 80)
    assert isinstance(edit, Task)
    with pytest.raises(dataclasses.FrozenInstanceError):
        edit.n_pairs = 3  # type: ignore[misc]


@pytest.mark.parametrize("task", CONFIGS, ids=repr)
def test_shapes_dtypes_and_layout(task: AssociativeRetrieval) -> None:
    batch = task.sample(5, gen(0))
    t, w = task.seq_len, task.n_writes
    assert batch.x.shape == (5, t, task.d_input) and batch.x.dtype == torch.float32
    assert batch.y.shape == (5, t, task.n_out) and batch.y.dtype == torch.float32
    assert batch.mask.shape == (5, t) and batch.mask.dtype == torch.bool
    assert not batch.mask[:, :w].any() and batch.mask[:, w:].all()
    nk, nv = task.n_keys, task.n_values
    assert torch.equal(batch.x[..., :nk].sum(-1), torch.ones(5, t))  # one key per step
    assert torch.equal(batch.x[:, :w, nk : nk + nv].sum(-1), torch.ones(5, w))  # one value
    assert not batch.x[:, w:, nk : nk + nv].any()  # no value at a query
    assert torch.equal(batch.x[..., -1], batch.mask.float())  # the query flag
    assert torch.equal(batch.y[:, w:].sum(-1), torch.ones(5, task.n_queries))
    assert not batch.y[:, :w].any()


@pytest.mark.parametrize("task", CONFIGS, ids=repr)
def test_latest_value_oracle_is_exact(task: AssociativeRetrieval) -> None:
    batch = task.sample(16, gen(1))
    pred = dict_solver(task, batch.x, keep="latest")
    assert masked_mse(pred, batch) == 0.0
    assert float(retrieval_loss(pred, batch)) == 0.0


def test_capacity_keys_and_values_are_distinct() -> None:
    task = AssociativeRetrieval("capacity", n_pairs=20, n_queries=20)
    batch = task.sample(8, gen(2))
    keys, values, _ = decode(task, batch.x)
    w = task.n_writes
    for b in range(8):
        # n_keys = n_values = n_pairs: keys and values are permutations, as in the paper
        assert sorted(keys[b, :w].tolist()) == list(range(20))
        assert sorted(values[b, :w].tolist()) == list(range(20))
        assert sorted(keys[b, w:].tolist()) == list(range(20))  # every key queried once
    # the order is random: rows differ
    assert not torch.equal(keys[0, :w], keys[1, :w])
    # with distinct keys the earliest write is the answer too
    assert masked_mse(dict_solver(task, batch.x, keep="earliest"), batch) == 0.0


def test_editing_target_is_latest_not_earliest() -> None:
    task = AssociativeRetrieval("editing", n_pairs=20, n_queries=8)
    batch = task.sample(32, gen(3))
    earliest = dict_solver(task, batch.x, keep="earliest")
    wrong = (earliest.argmax(-1) != batch.y.argmax(-1))[batch.mask].float().mean()
    assert wrong > 0.2  # keys are re-assigned often; the earliest value is then wrong
    assert masked_mse(earliest, batch) > 0.05
    assert masked_mse(dict_solver(task, batch.x, keep="latest"), batch) == 0.0
    # keys repeat within the 2N writes (drawn with replacement)
    keys, _, _ = decode(task, batch.x)
    n_distinct = [len(set(row.tolist())) for row in keys[:, : task.n_writes]]
    assert max(n_distinct) < task.n_writes


def test_same_seed_same_batch_different_seed_different() -> None:
    for task in CONFIGS:
        a, b, c = task.sample(4, gen(7)), task.sample(4, gen(7)), task.sample(4, gen(8))
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert not torch.equal(a.x, c.x)


def test_sample_uses_only_the_generator() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    AssociativeRetrieval("editing", n_pairs=5).sample(2, gen(0))
    assert torch.equal(torch.rand(3), expected)


def test_retrieval_loss_known_answer() -> None:
    task = AssociativeRetrieval("capacity", n_pairs=4, n_queries=2)
    batch = task.sample(3, gen(4))
    # all-zero predictions: 0.5 · 1 per query (one-hot target)
    assert float(retrieval_loss(torch.zeros_like(batch.y), batch)) == pytest.approx(0.5)
    # errors at unscored steps do not count
    pred = batch.y.clone()
    pred[:, : task.n_writes] = 7.0
    assert float(retrieval_loss(pred, batch)) == 0.0
    with pytest.raises(ValueError, match="shape"):
        retrieval_loss(torch.zeros(3, task.seq_len, 5), batch)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"setting": "edit"}, "setting"),
        ({"n_pairs": 0}, "n_pairs"),
        ({"n_pairs": True}, "n_pairs"),
        ({"n_pairs": 2.0}, "n_pairs"),
        ({"n_keys": 0}, "n_keys"),
        ({"n_values": -1}, "n_values"),
        ({"n_queries": 0}, "n_queries"),
        ({"n_pairs": 10, "n_keys": 9}, "n_keys >= n_pairs"),
        ({"n_pairs": 10, "n_values": 9}, "n_values >= n_pairs"),
        ({"n_pairs": 10, "n_queries": 11}, "n_queries"),
    ],
)
def test_invalid_configs_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AssociativeRetrieval(**kwargs)


def test_editing_allows_small_vocabularies_and_many_queries() -> None:
    task = AssociativeRetrieval("editing", n_pairs=10, n_keys=3, n_values=2, n_queries=15)
    batch = task.sample(2, gen(5))
    assert batch.x.shape == (2, 35, 6)
    assert masked_mse(dict_solver(task, batch.x, keep="latest"), batch) == 0.0


def test_sample_arg_checks() -> None:
    task = AssociativeRetrieval()
    with pytest.raises(ValueError):
        task.sample(0, gen(0))
    with pytest.raises(TypeError):
        task.sample(2, None)  # type: ignore[arg-type]
