"""Truncated BPTT: states carried across steps (resumed exactly), reset per stream, in checkpoints;
gradient accumulation equals one big batch; bf16 autocast on the CPU; the last record's whole
split."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.nn import FastWeightState
from fastweights.tasks import CharLM, Copy
from fastweights.train import CHECKPOINT, TrainConfig, train
from fastweights.train.carry import detach, reset_rows

TEXT = CharLM(seq_len=8)
CONFIG = TrainConfig(steps=6, batch_size=4, lr=1e-2, warmup_steps=2, eval_every=3,
                     eval_batches=1, carry_state=True, final_eval=False)  # fmt: skip


def _model(mixer: str, **fields) -> ModelConfig:
    return ModelConfig(mixer=mixer, d_model=16, n_layers=2, n_heads=2,
                       vocab_size=TEXT.vocab_size, **fields)  # fmt: skip


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


class _Interrupt(Exception):
    pass


def _stop_at(step: int):
    def log(entry: dict) -> None:
        if entry["step"] == step:
            raise _Interrupt

    return log


@pytest.mark.parametrize(
    ("mixer", "fields", "train_fields"),
    [
        ("delta_conv", {}, {"reset_prob": 0.3, "grad_accum": 2}),  # FastWeightState(fast, conv)
        ("delta_rnn", {}, {"reset_prob": 0.5}),  # a cell: its own fresh state
        ("lstm", {}, {"reset_prob": 0.5}),  # rows on dim 1
        ("transformer", {"mixer_options": {"window": 8}}, {}),  # a sliding key/value cache
    ],
)
def test_carried_states_resume_exactly(tmp_path: Path, mixer, fields, train_fields) -> None:
    model, config = _model(mixer, **fields), dataclasses.replace(CONFIG, **train_fields)
    train(TEXT, model, config, tmp_path / "full")
    with pytest.raises(_Interrupt):
        train(TEXT, model, config, tmp_path / "part", log=_stop_at(3))
    train(TEXT, model, config, tmp_path / "part", resume=True)
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")
    saved = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=True)
    assert saved["streams"]["positions"].shape == (4,) and len(saved["states"]) == 2
    # carrying the state changes what is learned: not the same losses as afresh
    fresh = dataclasses.replace(config, carry_state=False, reset_prob=0.0)
    train(TEXT, model, fresh, tmp_path / "afresh")
    assert _losses(tmp_path / "afresh")[1:] != _losses(tmp_path / "full")[1:]


def test_resuming_a_carried_run_from_a_checkpoint_without_states_is_an_error(
    tmp_path: Path,
) -> None:
    model = _model("delta")
    train(TEXT, model, dataclasses.replace(CONFIG, carry_state=False), tmp_path / "run")
    with pytest.raises(ValueError, match="holds no streams and states"):
        train(TEXT, model, dataclasses.replace(CONFIG, steps=9), tmp_path / "run", resume=True)


def test_detach_and_reset_rows_walk_named_tuples_and_cells() -> None:
    torch.manual_seed(0)
    model = FWPModel(_model("delta_rnn"))
    x = TEXT.sample(3, torch.Generator().manual_seed(0)).x
    _, states = model(x)
    states = detach(states)
    assert all(not t.requires_grad for s in states for t in torch.utils._pytree.tree_leaves(s))
    reset = torch.tensor([False, True, False])
    out = reset_rows(model, states, reset)
    fresh = model.blocks[0].mixer.fresh_state(3)
    for a, b, f in zip(torch.utils._pytree.tree_leaves(states[0]),
                       torch.utils._pytree.tree_leaves(out[0]),
                       torch.utils._pytree.tree_leaves(fresh), strict=True):  # fmt: skip
        assert torch.equal(b[0], a[0]) and torch.equal(b[2], a[2]) and torch.equal(b[1], f[1])
    pair = [FastWeightState(torch.ones(3, 2, 4, 4), torch.ones(3, 2, 5))] * 2
    delta = FWPModel(_model("delta", short_conv=4))
    cleared = reset_rows(delta, pair, reset)
    assert isinstance(cleared[0], FastWeightState)
    assert cleared[0].fast[1].abs().sum() == 0 and cleared[0].fast[0].eq(1).all()


def test_gradient_accumulation_equals_one_big_batch(tmp_path: Path) -> None:
    task = Copy(n_symbols=6, min_length=2, max_length=6)  # rows score unequal numbers of positions
    model = ModelConfig(mixer="delta", d_model=16, n_layers=2, n_heads=2,
                        vocab_size=task.vocab_size, n_out=task.n_out)  # fmt: skip
    big = TrainConfig(steps=4, batch_size=8, lr=1e-2, warmup_steps=1, eval_every=4,
                      eval_batches=1)  # fmt: skip
    one = train(task, model, big, tmp_path / "big")
    four = train(task, model, dataclasses.replace(big, grad_accum=4), tmp_path / "accum")
    assert _losses(tmp_path / "accum") == pytest.approx(_losses(tmp_path / "big"), rel=1e-5)
    for name, p in one.state_dict().items():
        torch.testing.assert_close(four.state_dict()[name], p, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_on_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fastweights.train.loop as loop

    seen = []
    original = loop.FWPModel

    def watched(config: ModelConfig) -> FWPModel:
        model = original(config)
        model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        return model

    monkeypatch.setattr(loop, "FWPModel", watched)
    cpu = dataclasses.replace(CONFIG, steps=2, eval_every=2, device="cpu")
    train(TEXT, _model("delta"), dataclasses.replace(cpu, bf16=True), tmp_path / "bf16")
    assert seen and set(seen) == {torch.bfloat16}
    seen.clear()
    train(TEXT, _model("delta"), cpu, tmp_path / "fp32")  # bf16=None: float32 on the CPU
    assert set(seen) == {torch.float32}
    bf16, fp32 = _losses(tmp_path / "bf16"), _losses(tmp_path / "fp32")
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, rel=0.05)
    assert TrainConfig(bf16=False).autocast_enabled(torch.device("cuda")) is False


def test_the_last_record_holds_the_whole_validation_split(tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, steps=2, eval_every=1, batch_size=64, final_eval=True)
    train(CharLM(seq_len=64), _model("delta"), config, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert "bpc_carried" not in records[0]
    last = records[-1]
    assert last["bpc_characters"] == CharLM(split="valid").n_symbols - 1
    assert 0 < last["bpc_carried"] < 8 and 0 < last["bpc_afresh"] < 8


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"grad_accum": 0}, "grad_accum"),
        ({"batch_size": 6, "grad_accum": 4}, "divisible by train.grad_accum"),
        ({"reset_prob": 1.0, "carry_state": True}, "reset_prob"),
        ({"reset_prob": -0.1, "carry_state": True}, "reset_prob"),
        ({"reset_prob": 0.1}, "needs train.carry_state"),
        ({"bf16": "yes"}, "bf16"),
        ({"carry_state": 1}, "carry_state"),
        ({"final_eval": "no"}, "final_eval"),
    ],
)
def test_bad_new_train_configs(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**fields)


def test_carrying_needs_streams_and_resettable_states(tmp_path: Path) -> None:
    task = Copy(n_symbols=6, min_length=2, max_length=6)
    model = ModelConfig(mixer="delta", d_model=16, n_heads=2, vocab_size=task.vocab_size,
                        n_out=task.n_out)  # fmt: skip
    with pytest.raises(ValueError, match="needs a task with streams"):
        train(task, model, CONFIG, tmp_path / "a")
    windowed = _model("transformer", mixer_options={"window": 8})
    with pytest.raises(ValueError, match="key/value cache cannot drop one row"):
        train(TEXT, windowed, dataclasses.replace(CONFIG, reset_prob=0.1), tmp_path / "b")
