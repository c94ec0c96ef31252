"""The meta-learning tasks: purity, the feedback channels, the scored phases, oracles that learn
from the feedback alone, and (slow) a trained 1993 net whose within-episode error falls."""

from __future__ import annotations

import dataclasses
import tempfile

import pytest
import torch

from fastweights.models import ModelConfig
from fastweights.tasks import TASKS, MetaAssociation, MetaRegression

TASK_TYPES = [MetaRegression, MetaAssociation]


@pytest.mark.parametrize("kind", TASK_TYPES)
def test_same_generator_same_batch_and_shapes(kind) -> None:
    task = kind()
    a = task.sample(4, torch.Generator().manual_seed(3))
    b = task.sample(4, torch.Generator().manual_seed(3))
    c = task.sample(4, torch.Generator().manual_seed(4))
    assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (4, task.length, task.d_input) and a.x.dtype == torch.float32
    assert task.d_input > task.feedback_dims > 0 and a.mask.all()


def test_regression_feedback_is_the_previous_target() -> None:
    task = MetaRegression(d_in=3, d_out=2, length=10)
    batch = task.sample(5, torch.Generator().manual_seed(0))
    fb = batch.x[..., -task.feedback_dims :]
    assert torch.equal(fb[:, 0], torch.zeros(5, 2)) and torch.equal(fb[:, 1:], batch.y[:, :-1])
    hidden = dataclasses.replace(task, reveal=False).sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(hidden.x[..., -2:], torch.zeros(5, 10, 2))
    assert torch.equal(hidden.y, batch.y) and torch.equal(hidden.x[..., :3], batch.x[..., :3])


def test_association_feedback_is_the_previous_label() -> None:
    task = MetaAssociation(n_items=3, n_labels=5, length=12)
    batch = task.sample(6, torch.Generator().manual_seed(1))
    assert batch.y.dtype == torch.int64 and batch.x.shape[-1] == 8
    items, fb = batch.x[..., :3].argmax(-1), batch.x[..., 3:]
    assert torch.equal(fb[:, 0], torch.zeros(6, 5))
    assert torch.equal(fb[:, 1:].argmax(-1), batch.y[:, :-1])
    for b in range(6):  # one label per item within an episode
        for i in range(3):
            assert batch.y[b][items[b] == i].unique().numel() <= 1


@pytest.mark.parametrize("kind", TASK_TYPES)
def test_scored_phases_mask_thirds_of_the_same_data(kind) -> None:
    task = kind(length=12)
    full = task.sample(2, torch.Generator().manual_seed(5))
    early = dataclasses.replace(task, scored="early").sample(2, torch.Generator().manual_seed(5))
    late = dataclasses.replace(task, scored="late").sample(2, torch.Generator().manual_seed(5))
    assert torch.equal(early.x, full.x) and torch.equal(late.y, full.y)
    assert early.mask[0].nonzero().flatten().tolist() == [0, 1, 2, 3]
    assert late.mask[0].nonzero().flatten().tolist() == [8, 9, 10, 11]


def test_regression_is_learnable_from_the_feedback_alone() -> None:
    """Least squares on the pairs (x_s, feedback_{s+1}) seen so far identifies A after d_in."""
    task = MetaRegression(d_in=3, d_out=2, length=12)
    batch = task.sample(8, torch.Generator().manual_seed(2))
    inputs, fb = batch.x[..., :3].double(), batch.x[..., 3:].double()
    for t in range(4, 12):  # pairs 0..t−2 are known at step t (label of t−1 arrives at t)
        X, Y = inputs[:, : t - 1], fb[:, 1:t]
        A = torch.linalg.lstsq(X, Y).solution  # [B, d_in, d_out]
        guess = (inputs[:, t : t + 1] @ A).squeeze(1)
        torch.testing.assert_close(guess, batch.y[:, t].double(), rtol=1e-5, atol=1e-5)
    # and before any pair, the targets have unit variance: nothing is known of A
    assert 0.5 < batch.y.var().item() < 2.0


def test_association_oracle_is_right_after_each_first_showing() -> None:
    task = MetaAssociation(n_items=4, n_labels=4, length=24)
    batch = task.sample(16, torch.Generator().manual_seed(3))
    items, fb = batch.x[..., :4].argmax(-1), batch.x[..., 4:]
    right = total = 0
    for b in range(16):
        memory: dict[int, int] = {}
        for t in range(24):
            if t and fb[b, t].sum() > 0:
                memory[int(items[b, t - 1])] = int(fb[b, t].argmax())
            item = int(items[b, t])
            if item in memory:
                right += memory[item] == int(batch.y[b, t])
                total += 1
    assert total > 200 and right == total


def test_registered_and_bad_fields() -> None:
    assert TASKS["meta_regression"] is MetaRegression
    assert TASKS["meta_association"] is MetaAssociation
    for kwargs, match in [({"length": 2}, "length"), ({"scored": "mid"}, "scored"),
                          ({"reveal": 1}, "reveal"), ({"d_in": 0}, "d_in"),
                          ({"noise": -1.0}, "noise")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            MetaRegression(**kwargs)
    with pytest.raises(ValueError, match="n_labels"):
        MetaAssociation(n_labels=1)


@pytest.mark.slow
def test_a_trained_1993_net_learns_within_the_episode() -> None:
    """About a minute on one CPU core: the within-episode error falls from early to late."""
    from fastweights.bench.efficacy.evaluation import evaluate_split
    from fastweights.train.loop import TrainConfig, train

    task = MetaAssociation(n_items=3, n_labels=3, length=18)
    sizes = {"d_input": task.d_input, "n_out": task.n_out, "feedback": task.feedback_dims}
    config = ModelConfig(mixer="srnet1993", d_model=16, n_layers=1, n_heads=2, **sizes)
    steps = TrainConfig(steps=400, batch_size=32, lr=1e-2, warmup_steps=40, eval_every=400,
                        eval_batches=1, seed=0)  # fmt: skip
    with tempfile.TemporaryDirectory() as run_dir:
        model = train(task, config, steps, run_dir)
    found = evaluate_split(model, task, seed=7, batches=4, batch_size=64)
    assert found["late_loss"] < 0.9 * found["early_loss"], found
