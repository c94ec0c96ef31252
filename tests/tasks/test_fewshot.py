"""FewShot: the episode layout (sync and delayed labels, checked exactly), determinism, splits,
the oracle, and errors. Runs on the vendored digits (no optional dependency)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import TASKS, Task
from fastweights.tasks.fewshot import (
    FewShot,
    ImageSet,
    episodes,
    load_split,
    nearest_neighbour,
    oracle,
)


def _episode(task: FewShot, batch_size: int = 16, seed: int = 0):
    return task.episode(batch_size, torch.Generator().manual_seed(seed))


def _label_channel(task: FewShot, x: torch.Tensor) -> torch.Tensor:
    return x[..., task.image_size**2 :]  # [B, T, N+1]


def test_registered_and_declares_its_sizes() -> None:
    task = TASKS["few_shot"](n_way=4, k_shot=3, n_queries=2)
    assert isinstance(task, Task) and isinstance(task, FewShot)
    assert task.image_size == 8 and task.vocab_size == 0
    assert task.d_input == 64 + 4 + 1 and task.n_out == 4 and task.seq_len == 14
    x, y, mask = task.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 14, task.d_input) and x.dtype == torch.float32
    assert y.shape == (5, 14) and y.dtype == torch.int64 and mask.shape == (5, 14)
    assert float(x[..., :64].min()) >= 0 and float(x[..., :64].max()) <= 1
    assert int(y.min()) >= 0 and int(y.max()) < 4


@pytest.mark.parametrize("mode", ["sync", "delayed"])
def test_same_seed_same_batch(mode: str) -> None:
    task = FewShot(label_mode=mode, k_shot=2, n_queries=3)
    a, b, c = _episode(task), _episode(task), _episode(task, seed=1)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)
    assert not torch.equal(a.x, c.x)


def test_sync_labels_exactly() -> None:
    task = FewShot(n_way=5, k_shot=2, n_queries=4)
    x, y, mask, _ = _episode(task)
    labels = _label_channel(task, x)
    NK = task.n_support
    # support steps show the one-hot of their own label, never the no-label slot
    assert torch.equal(labels[:, :NK, :5], torch.nn.functional.one_hot(y[:, :NK], 5).float())
    assert not labels[:, :NK, 5].any()
    # queries show only the no-label slot
    assert not labels[:, NK:, :5].any() and bool((labels[:, NK:, 5] == 1).all())
    assert not mask[:, :NK].any() and mask[:, NK:].all()
    # every label appears exactly K times among the support steps of each episode
    counts = torch.nn.functional.one_hot(y[:, :NK], 5).sum(1)
    assert bool((counts == 2).all())


def test_delayed_labels_exactly() -> None:
    task = FewShot(n_way=3, k_shot=3, n_queries=2, label_mode="delayed")
    x, y, mask, _ = _episode(task)
    labels = _label_channel(task, x)
    assert bool((labels[:, 0, 3] == 1).all()) and not labels[:, 0, :3].any()
    assert torch.equal(labels[:, 1:, :3], torch.nn.functional.one_hot(y[:, :-1], 3).float())
    assert not labels[:, 1:, 3].any()
    assert mask.all()


def test_same_images_and_targets_in_both_modes() -> None:
    """The label mode changes only the label channel and the mask."""
    sync = FewShot(k_shot=2, n_queries=3)
    delayed = dataclasses.replace(sync, label_mode="delayed")
    a, b = _episode(sync), _episode(delayed)
    S2 = sync.image_size**2
    assert torch.equal(a.x[..., :S2], b.x[..., :S2])
    assert torch.equal(a.y, b.y) and torch.equal(a.classes, b.classes)


def _numbered_set(n_classes: int = 12) -> ImageSet:
    """4×4 images that carry their class (pixel 0) and example index (pixel 1); class c has
    6 + c % 3 examples."""
    groups = []
    for c in range(n_classes):
        group = torch.zeros(6 + c % 3, 4, 4, dtype=torch.uint8)
        group[:, 0, 0] = c
        group[:, 0, 1] = torch.arange(len(group), dtype=torch.uint8)
        groups.append(group)
    return ImageSet.from_groups(groups, [f"c{c}" for c in range(n_classes)])


def test_episode_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _numbered_set()
    monkeypatch.setattr(episodes, "load_split", lambda *args, **kwargs: data)
    task = FewShot(n_way=4, k_shot=2, n_queries=4, image_size=4)
    x, y, _, classes = _episode(task, batch_size=64)
    pixels = (x[..., :16] * 255).round().long()  # [B, T, 16]
    cls, example = pixels[..., 0], pixels[..., 1]
    assert torch.equal(cls, classes)
    assert bool((example < data.count[cls]).all())
    NK = task.n_support
    for b in range(64):
        support = cls[b, :NK].tolist()
        assert sorted(set(support)) == sorted(set(cls[b].tolist()))  # queries: episode classes
        assert len(set(support)) == 4 and all(support.count(c) == 2 for c in support)
        pairs = list(zip(cls[b].tolist(), example[b].tolist(), strict=True))
        assert len(set(pairs)) == task.seq_len  # no example twice in an episode
        label_of: dict[int, int] = {}
        for c, label in zip(cls[b].tolist(), y[b].tolist(), strict=True):
            assert label_of.setdefault(c, label) == label  # one label per class
        assert sorted(label_of.values()) == [0, 1, 2, 3]
    # over many episodes every class shows up
    assert set(cls.flatten().tolist()) == set(range(12))


@pytest.mark.parametrize("mode", ["sync", "delayed"])
def test_oracle_solves_every_decidable_step(mode: str) -> None:
    task = FewShot(n_way=5, k_shot=2, n_queries=5, label_mode=mode)
    ep = _episode(task, batch_size=64)
    predicted = oracle(task, ep)
    decided = predicted >= 0
    assert torch.equal(predicted[decided], ep.y[decided])
    if mode == "sync":
        assert bool(decided[ep.mask].all())  # 100% at the queries
    else:  # undecidable exactly at each class's first occurrence
        first = torch.zeros_like(decided)
        for b in range(64):
            seen = set()
            for t, c in enumerate(ep.classes[b].tolist()):
                first[b, t] = c not in seen
                seen.add(c)
        assert torch.equal(~decided, first)


def test_oracle_reads_the_labels_from_x() -> None:
    """Corrupting the shown labels breaks the oracle: it does not read y."""
    task = FewShot(n_way=5, n_queries=3)
    ep = _episode(task, batch_size=64)
    S2 = task.image_size**2
    x = ep.x.clone()
    x[:, : task.n_support, S2 : S2 + 5] = x[:, : task.n_support, S2 : S2 + 5].roll(1, -1)
    wrong = oracle(task, ep._replace(x=x))
    assert not bool((wrong[ep.mask] == ep.y[ep.mask]).any())


def test_nearest_neighbour_beats_chance_on_digits() -> None:
    task = FewShot(n_way=5, n_queries=4)
    ep = _episode(task, batch_size=128)
    predicted = nearest_neighbour(task, ep.x)
    assert bool((predicted[:, : task.n_support] == -1).all())
    accuracy = float((predicted[ep.mask] == ep.y[ep.mask]).float().mean())
    assert accuracy > 0.6  # chance is 0.2
    with pytest.raises(ValueError, match="sync"):
        nearest_neighbour(dataclasses.replace(task, label_mode="delayed"), ep.x)


def test_test_split_holds_other_examples() -> None:
    task = FewShot()
    test = task.test_split()
    assert test.split == "test" and dataclasses.replace(test, split="train") == task
    train_images, test_images = task.images().images, test.images().images
    assert len(train_images) == 1287 and len(test_images) == 510
    assert task.images() is load_split("digits", "train", 8)  # loaded once, shared


def test_a_model_reads_it_and_config_round_trips() -> None:
    task = FewShot(n_way=3, k_shot=2, label_mode="delayed", image_size=6)
    x, _, mask = task.sample(2, torch.Generator().manual_seed(0))
    assert x.shape[-1] == 36 + 4
    model = FWPModel(ModelConfig(d_model=16, n_heads=2, d_input=task.d_input, n_out=task.n_out))
    assert model(x)[0].shape == (*mask.shape, 3)
    fields = json.loads(json.dumps(dataclasses.asdict(task)))  # as the train loop's config.json
    assert FewShot(**fields) == task


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"source": "mnist"}, "source"),
        ({"label_mode": "late"}, "label_mode"),
        ({"split": "valid"}, "split"),
        ({"n_way": 1}, "n_way"),
        ({"k_shot": 0}, "k_shot"),
        ({"n_queries": 0}, "n_queries"),
        ({"image_size": 2}, "image_size"),
        ({"n_way": 11}, "10 classes"),
        ({"source": "omniglot"}, "root"),
        ({"root": "/tmp"}, "root"),
        ({"n_drawers": 0}, "n_drawers"),
        ({"k_shot": True}, "k_shot"),
    ],
)
def test_bad_fields(fields: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FewShot(**fields)


def test_too_few_examples_per_class() -> None:
    task = FewShot(n_way=2, k_shot=40, n_queries=20, split="test")  # the test digits: ~51 each
    with pytest.raises(ValueError, match="distinct examples per class"):
        task.sample(2, torch.Generator())


def test_bad_sample_arguments() -> None:
    task = FewShot()
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(0, torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        task.sample(2, 0)
