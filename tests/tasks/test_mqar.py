"""MQAR: Zoology's format, the scanning oracle, the power-law gaps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fastweights.tasks.base import Task
from fastweights.tasks.mqar import MQAR, ZOOLOGY_CONFIGS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def scan_oracle(task: MQAR, x: torch.Tensor) -> torch.Tensor:
    """Reads the pairs at the start, then answers each query key from them (argmax predictions)."""
    pred = torch.zeros_like(x)
    n = task.num_kv_pairs
    for b in range(x.shape[0]):
        seq = x[b].tolist()
        memory = {seq[2 * i]: seq[2 * i + 1] for i in range(n)}
        for t in range(2 * n, len(seq)):
            pred[b, t] = memory.get(seq[t], 0)
    return pred


def test_zoology_defaults_and_contract() -> None:
    task = MQAR()
    assert (task.vocab_size, task.seq_len, task.num_kv_pairs, task.power_a) == (
        8192,
        64,
        4,
        0.01,
    )
    assert task.random_non_queries is True
    assert (task.d_input, task.n_out) == (0, 8192)
    assert isinstance(task, Task)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.seq_len = 128  # type: ignore[misc]


@pytest.mark.parametrize(("seq_len", "pairs"), ZOOLOGY_CONFIGS)
def test_oracle_is_perfect_on_zoology_configs(seq_len: int, pairs: int) -> None:
    task = MQAR(seq_len=seq_len, num_kv_pairs=pairs)
    batch = task.sample(8, gen(seq_len))
    assert batch.x.shape == batch.y.shape == batch.mask.shape == (8, seq_len)
    assert batch.x.dtype == batch.y.dtype == torch.int64 and batch.mask.dtype == torch.bool
    assert int(batch.mask.sum()) == 8 * pairs  # every key queried once
    pred = scan_oracle(task, batch.x)
    assert torch.equal(pred[batch.mask], batch.y[batch.mask])
    # a solver that pairs each key with the next pair's value scores 0
    shifted = batch.x.clone()
    shifted[:, 1 : 2 * pairs : 2] = batch.x[:, 1 : 2 * pairs : 2].roll(1, dims=1)
    assert (scan_oracle(task, shifted)[batch.mask] == batch.y[batch.mask]).float().mean() == 0.0


@pytest.mark.parametrize("random_non_queries", [False, True])
def test_layout_matches_zoology(random_non_queries: bool) -> None:
    task = MQAR(vocab_size=256, seq_len=64, num_kv_pairs=8, random_non_queries=random_non_queries)
    batch = task.sample(16, gen(1))
    x, y, mask = batch
    n, half = 8, 128
    keys, values = x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2]
    assert ((keys >= 1) & (keys < half)).all()
    assert ((values >= half) & (values < 256)).all()
    assert not mask[:, : 2 * n].any()
    for b in range(16):
        assert len(set(keys[b].tolist())) == n and len(set(values[b].tolist())) == n
        qpos = mask[b].nonzero().flatten()
        assert ((qpos - 2 * n) % 2 == 0).all()  # queries at 2P + 2·gap
        assert sorted(x[b, qpos].tolist()) == sorted(keys[b].tolist())  # each key once
        # the label at a query position is its key's value
        pairs = dict(zip(keys[b].tolist(), values[b].tolist(), strict=True))
        assert [pairs[k] for k in x[b, qpos].tolist()] == y[b, qpos].tolist()
    assert not y[~mask].any()
    free = torch.ones_like(mask)
    free[:, : 2 * n] = False
    free &= ~mask
    if random_non_queries:
        assert (x[free] != 0).float().mean() > 0.9  # uniform tokens over the whole vocabulary
        assert ((x >= 0) & (x < 256)).all()
        assert x[free].float().std() > 50
    else:
        assert not x[free].any()  # Zoology's zeros


def test_gap_probs_known_answers() -> None:
    p = MQAR(seq_len=64, num_kv_pairs=4, power_a=1.0).gap_probs()
    assert p.shape == (28,)  # space = (64 - 8) // 2
    assert torch.allclose(p, torch.full((28,), 1 / 28, dtype=torch.float64))
    p = MQAR(seq_len=64, num_kv_pairs=4).gap_probs()
    assert float(p.sum()) == pytest.approx(1.0)
    assert float(p[0] / p[1]) == pytest.approx(2**0.99)
    assert (p[:-1] > p[1:]).all()


def test_gaps_follow_the_power_law() -> None:
    # one pair: the gap of its single query is one draw from p
    task = MQAR(vocab_size=128, seq_len=64, num_kv_pairs=1, random_non_queries=False)
    batch = task.sample(20000, gen(2))
    gaps = (batch.mask.float().argmax(1) - 2) // 2
    freq = torch.bincount(gaps, minlength=31).double() / 20000
    assert (freq - task.gap_probs()).abs().max() < 0.015
    # short gaps more likely under a = 0.01 than under the uniform a = 1
    uniform = MQAR(vocab_size=128, seq_len=64, num_kv_pairs=1, power_a=1.0).sample(20000, gen(2))
    assert gaps.float().mean() < ((uniform.mask.float().argmax(1) - 2) // 2).float().mean() - 3


def test_same_seed_same_batch_different_seed_different() -> None:
    task = MQAR(seq_len=128, num_kv_pairs=8)
    a, b, c = task.sample(4, gen(9)), task.sample(4, gen(9)), task.sample(4, gen(10))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a.x, c.x)
    assert not torch.equal(a.mask, c.mask)


def test_sample_uses_only_the_generator() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    MQAR().sample(2, gen(0))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seq_len": 63}, "even"),
        ({"vocab_size": 64, "seq_len": 64}, "vocab_size must be > seq_len"),
        ({"seq_len": 64, "num_kv_pairs": 17}, "4 \\* num_kv_pairs"),
        ({"num_kv_pairs": 0}, "num_kv_pairs"),
        ({"num_kv_pairs": True}, "num_kv_pairs"),
        ({"vocab_size": 8192.0}, "vocab_size"),
        ({"power_a": 0.0}, "power_a"),
        ({"power_a": -1.0}, "power_a"),
        ({"power_a": float("nan")}, "power_a"),
        ({"random_non_queries": 1}, "random_non_queries"),
    ],
)
def test_invalid_configs_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MQAR(**kwargs)


def test_smallest_valid_config() -> None:
    task = MQAR(vocab_size=5, seq_len=4, num_kv_pairs=1)
    batch = task.sample(3, gen(0))
    assert torch.equal(scan_oracle(task, batch.x)[batch.mask], batch.y[batch.mask])


def test_sample_arg_checks() -> None:
    with pytest.raises(ValueError):
        MQAR().sample(-1, gen(0))
    with pytest.raises(TypeError):
        MQAR().sample(2, 0)  # type: ignore[arg-type]
