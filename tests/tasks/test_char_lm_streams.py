"""``CharLM.streams``: row b of each batch continues row b of the last, pure given the generator."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from fastweights.tasks import CharLM
from fastweights.tasks.text import clear_cache

TASK = CharLM(seq_len=16)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_each_row_continues_its_stream_without_gap_or_overlap() -> None:
    streams, generator = TASK.streams(5), _gen()
    batches = [streams.sample(generator) for _ in range(4)]
    for batch in batches:
        assert batch.x.shape == batch.y.shape == batch.mask.shape == (5, 16) and batch.mask.all()
        assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])  # y is x shifted by one
    text = torch.cat([b.x for b in batches], dim=1)  # [5, 64]: one stretch of the split per row
    data = TASK.data.long()
    n = data.shape[0]
    assert streams.positions is not None
    start = (streams.positions - 64) % n  # [5] where each stream began
    expected = data[(start[:, None] + torch.arange(64)) % n]
    assert torch.equal(text, expected)
    for before, after in itertools.pairwise(batches):
        assert torch.equal(after.x[:, 0], before.y[:, -1])


def test_pure_given_the_generator_and_resumable_from_its_state() -> None:
    a, b = TASK.streams(3), TASK.streams(3)
    ga, gb = _gen(7), _gen(7)
    assert all(torch.equal(a.sample(ga).x, b.sample(gb).x) for _ in range(3))
    saved, generator_state = a.state_dict(), ga.get_state()
    expected = [a.sample(ga).x for _ in range(2)]
    c = TASK.streams(3)
    c.load_state_dict(saved)
    gc = torch.Generator()
    gc.set_state(generator_state)
    assert all(torch.equal(c.sample(gc).x, x) for x in expected)
    assert not torch.equal(TASK.streams(3).sample(_gen(8)).x, TASK.streams(3).sample(_gen(7)).x)


def test_a_stream_reaching_the_end_goes_on_from_the_start(tmp_path: Path) -> None:
    enwik8 = tmp_path / "enwik8"
    enwik8.write_bytes(bytes(range(200)))  # test split: bytes 190..199
    task = CharLM(corpus="enwik8", path=str(enwik8), exact_size=False, split="test", seq_len=4)
    streams = task.streams(1)
    streams.sample(_gen())
    streams.load_state_dict({"batch_size": 1, "positions": torch.tensor([8])})
    batch = streams.sample(_gen())
    assert batch.x.tolist() == [[198, 199, 190, 191]] and batch.y.tolist() == [[199, 190, 191, 192]]
    clear_cache()


def test_a_text_shorter_than_a_window_and_bad_states_are_clear_errors(tmp_path: Path) -> None:
    enwik8 = tmp_path / "enwik8"
    enwik8.write_bytes(bytes(range(200)))  # test split: 10 bytes
    task = CharLM(corpus="enwik8", path=str(enwik8), exact_size=False, split="test", seq_len=16)
    with pytest.raises(ValueError, match="has 10 symbols; streams of windows of seq_len=16"):
        task.streams(2).sample(_gen())
    clear_cache()
    with pytest.raises(ValueError, match="batch_size"):
        TASK.streams(0)
    streams = TASK.streams(2)
    with pytest.raises(ValueError, match="saved streams are 3"):
        streams.load_state_dict({"batch_size": 3, "positions": None})
    with pytest.raises(ValueError, match="int64"):
        streams.load_state_dict({"batch_size": 2, "positions": torch.zeros(2)})
    with pytest.raises(ValueError, match="not a TextStreams state"):
        streams.load_state_dict({"positions": None})
    with pytest.raises(TypeError, match="generator"):
        streams.sample(0)  # type: ignore[arg-type]
