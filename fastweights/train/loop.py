"""One plain training loop, with runs kept as directories.

AdamW, linear warm-up then cosine decay, gradient clipping, evaluation every ``eval_every`` steps
on fixed batches (the same ones each time). Deterministic given ``seed``: the model is built
under a forked global RNG seeded from it, and the data come from a ``torch.Generator`` whose state
is checkpointed, so ``resume`` continues exactly (the resumed loss curve equals the uninterrupted
one). A run directory holds ``config.json``, ``metrics.jsonl`` and ``checkpoint.pt``, the
checkpoint written atomically (temporary file, then rename). A NaN or infinite loss stops the run
with a ``FloatingPointError`` naming the step; the last good checkpoint stays.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import Task
from fastweights.train.objective import score

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "eval_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{name} must be an int >= 1, got {value!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise ValueError(f"train.warmup_steps must be an int, got {self.warmup_steps!r}")
        for name in ("lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"train.{name} must be > 0, got {getattr(self, name)!r}")


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to 0 at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    return 0.5 * config.lr * (1 + math.cos(math.pi * (step - config.warmup_steps) / span))


def evaluate(model: FWPModel, task: Task, config: TrainConfig) -> dict[str, float]:
    """Loss and accuracy (over masked positions) on ``eval_batches`` fixed batches."""
    generator = torch.Generator().manual_seed(config.seed + 1)  # the same batches every time
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for _ in range(config.eval_batches):
            batch = task.sample(config.batch_size, generator)
            result = score(task, batch, model(batch.x)[0])
            losses.append(result.loss.item())
            correct += int(result.correct.sum())
            total += result.correct.numel()
    return {"eval_loss": sum(losses) / len(losses), "eval_accuracy": correct / max(1, total)}


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash leaves the old checkpoint or the new one, never half


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents; a clear error when it is missing or not a checkpoint."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, weights_only=False)
    except Exception as error:  # any unpickling failure means the file is not a checkpoint
        raise ValueError(f"checkpoint {path} is corrupt or not a checkpoint: {error}") from None


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the records past ``step`` (a run that went on after its last checkpoint)."""
    if path.is_file():
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in kept))


def train(
    task: Task,
    model_config: ModelConfig,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> FWPModel:
    """Train ``FWPModel(model_config)`` on ``task``; the run lives in ``run_dir``."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run directory {run_dir} is not empty; pass resume=True to continue it")
    with torch.random.fork_rng():  # the user's global RNG is left as it was
        torch.manual_seed(config.seed)
        model = FWPModel(model_config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    start = 0
    if resume:
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start = state["step"]
        _truncate_metrics(run_dir / "metrics.jsonl", start)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        described = {
            "task": {"name": type(task).__name__, **dataclasses.asdict(task)},  # type: ignore[call-overload]
            "model": dataclasses.asdict(model_config),
            "train": dataclasses.asdict(config),
        }
        (run_dir / "config.json").write_text(json.dumps(described, indent=2, default=str))

    def record(entry: dict[str, Any]) -> None:
        with (run_dir / "metrics.jsonl").open("a") as sink:
            sink.write(json.dumps(entry) + "\n")
        if log is not None:
            log(entry)

    model.train()
    for step in range(start, config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        batch = task.sample(config.batch_size, generator)
        result = score(task, batch, model(batch.x)[0])
        if not torch.isfinite(result.loss):
            raise FloatingPointError(
                f"loss is {result.loss.item()} at step {step}; the last good checkpoint "
                f"({checkpoint}) is kept"
            )
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        entry = {"step": step + 1, "loss": result.loss.item(), "lr": learning_rate(step, config)}
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            model.eval()
            entry |= evaluate(model, task, config)
            model.train()
            _save(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "step": step + 1,
            })  # fmt: skip
        record(entry)
    model.eval()
    return model
