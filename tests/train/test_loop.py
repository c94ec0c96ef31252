"""The training loop: it learns, resumes exactly, writes atomically, stops on NaN, fails clearly."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from fastweights.models import ModelConfig
from fastweights.tasks import AssociativeRetrieval, Batch, Copy
from fastweights.train import CHECKPOINT, TrainConfig, learning_rate, train

TASK = Copy(n_symbols=6, min_length=2, max_length=6)
MODEL = ModelConfig(mixer="delta", d_model=32, n_layers=2, n_heads=4, vocab_size=TASK.vocab_size,
                    n_out=TASK.n_out)  # fmt: skip
CONFIG = TrainConfig(steps=40, batch_size=16, lr=1e-2, warmup_steps=5, eval_every=10)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_run_learns_and_leaves_its_directory(tmp_path: Path) -> None:
    train(TASK, MODEL, CONFIG, tmp_path / "run")
    run = tmp_path / "run"
    metrics = _metrics(run)
    assert [m["step"] for m in metrics] == list(range(1, 41))
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in evals] == [10, 20, 30, 40]
    assert evals[-1]["eval_loss"] < 0.9 * evals[0]["eval_loss"]
    assert evals[-1]["eval_accuracy"] > evals[0]["eval_accuracy"]
    assert (run / CHECKPOINT).is_file() and not (run / "checkpoint.tmp").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["name"] == "Copy" and config["train"]["steps"] == 40


class _Interrupt(Exception):
    pass


def _interrupt_after(step: int):  # a log callback that stops the run once ``step`` is recorded
    def log(entry: dict) -> None:
        if entry["step"] == step:
            raise _Interrupt

    return log


def test_resume_continues_exactly(tmp_path: Path) -> None:
    train(TASK, MODEL, CONFIG, tmp_path / "full")
    with pytest.raises(_Interrupt):  # the same run, stopped after its checkpoint at step 20
        train(TASK, MODEL, CONFIG, tmp_path / "part", log=_interrupt_after(20))
    train(TASK, MODEL, CONFIG, tmp_path / "part", resume=True)
    full, part = _metrics(tmp_path / "full"), _metrics(tmp_path / "part")
    assert [m["step"] for m in part] == list(range(1, 41))
    assert [m["loss"] for m in part[20:]] == [m["loss"] for m in full[20:]]


def test_resume_drops_records_past_the_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(_Interrupt):  # ran on past its checkpoint at step 20, then died
        train(TASK, MODEL, CONFIG, run, log=_interrupt_after(25))
    assert _metrics(run)[-1]["step"] == 25
    train(TASK, MODEL, CONFIG, run, resume=True)
    assert [m["step"] for m in _metrics(run)] == list(range(1, 41))


def test_corrupt_or_missing_checkpoint_and_busy_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(TASK, MODEL, CONFIG, run, resume=True)
    run.mkdir()
    (run / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        train(TASK, MODEL, CONFIG, run, resume=True)
    with pytest.raises(ValueError, match="not empty"):
        train(TASK, MODEL, CONFIG, run)


@dataclass(frozen=True)
class _PoisonedRetrieval(AssociativeRetrieval):
    """Associative retrieval whose 15th batch has a NaN target (so the loss is NaN)."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        batch = super().sample(batch_size, generator)
        calls = getattr(self, "_calls", 0) + 1
        object.__setattr__(self, "_calls", calls)
        if calls == 15:
            batch.y[batch.mask] = float("nan")
        return batch


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    task = _PoisonedRetrieval(n_pairs=4)
    model = ModelConfig(mixer="delta", d_model=16, n_heads=2, d_input=task.d_input,
                        n_out=task.n_out)  # fmt: skip
    config = TrainConfig(steps=30, batch_size=4, warmup_steps=1, eval_every=10, eval_batches=1)
    run = tmp_path / "run"
    with pytest.raises(FloatingPointError, match="at step"):
        train(task, model, config, run)
    state = torch.load(run / CHECKPOINT, weights_only=True)
    assert state["step"] == 10  # the checkpoint of step 10 survived the NaN
    assert all(torch.isfinite(p).all() for p in state["model"].values())


def test_learning_rate_warms_up_then_decays() -> None:
    config = TrainConfig(steps=100, lr=1.0, warmup_steps=10)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(10, config) == pytest.approx(1.0)
    assert learning_rate(55, config) == pytest.approx(0.5)
    assert learning_rate(99, config) < 0.01


@pytest.mark.parametrize(
    ("fields", "match"),
    [({"steps": 0}, "steps"), ({"lr": 0.0}, "lr"), ({"batch_size": 1.5}, "batch_size")],
)
def test_bad_train_configs(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**fields)


@pytest.mark.parametrize(
    ("field", "value"), [("parallel", "horovod"), ("device", "quantum"), ("device", "cuda:x")]
)
def test_bad_device_or_parallel_is_a_value_error(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"train.{field}"):
        TrainConfig(**{field: value})


def test_auto_device_is_the_cpu_without_a_gpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert TrainConfig().torch_device().type == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_uses_bf16_autocast(tmp_path: Path) -> None:
    seen = []
    model = train(TASK, MODEL, TrainConfig(steps=2, batch_size=4, device="cuda", eval_every=2),
                  tmp_path / "run")  # fmt: skip
    hook = model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast("cuda", torch.bfloat16):
        model(TASK.sample(2, torch.Generator().manual_seed(0)).x.cuda())
    hook.remove()
    assert next(model.parameters()).device.type == "cuda" and seen == [torch.bfloat16]


@pytest.mark.slow
def test_a_compiled_training_step_trains_as_eager_and_saves_plain_names(tmp_path: Path) -> None:
    task = AssociativeRetrieval(n_pairs=4)
    model = ModelConfig(mixer="delta", d_model=16, n_heads=2, d_input=task.d_input,
                        n_out=task.n_out)  # fmt: skip
    config = TrainConfig(steps=4, batch_size=4, warmup_steps=1, eval_every=2, eval_batches=1)
    eager = train(task, model, config, tmp_path / "eager")
    compiled = train(task, model, dataclasses.replace(config, compile=True), tmp_path / "compiled")
    losses = [
        [json.loads(line)["loss"] for line in (tmp_path / run / "metrics.jsonl").open()]
        for run in ("eager", "compiled")
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    for name, p in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[name], p, rtol=1e-4, atol=1e-5)
    saved = torch.load(tmp_path / "compiled" / CHECKPOINT, weights_only=True)
    assert saved["model"].keys() == eager.state_dict().keys()  # no _orig_mod. prefix


@pytest.mark.slow
def test_a_compiled_run_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fastweights.train.loop as loop

    compile_model = loop.compile_model  # aot_eager: the same graphs, no code generation (faster)
    monkeypatch.setattr(loop, "compile_model", lambda m: compile_model(m, backend="aot_eager"))
    task = AssociativeRetrieval(n_pairs=4)
    model = ModelConfig(mixer="delta", d_model=16, n_heads=2, d_input=task.d_input,
                        n_out=task.n_out)  # fmt: skip
    config = TrainConfig(steps=6, batch_size=4, warmup_steps=1, eval_every=3, eval_batches=1,
                         compile=True)  # fmt: skip
    full = train(task, model, config, tmp_path / "full")
    with pytest.raises(_Interrupt):  # stopped after its checkpoint at step 3
        train(task, model, config, tmp_path / "part", log=_interrupt_after(3))
    part = train(task, model, config, tmp_path / "part", resume=True)
    assert [m["loss"] for m in _metrics(tmp_path / "part")] == [
        m["loss"] for m in _metrics(tmp_path / "full")
    ]
    for name, p in full.state_dict().items():
        assert torch.equal(part.state_dict()[name], p), name
