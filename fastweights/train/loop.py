"""One plain training loop, with runs kept as directories.

AdamW, linear warm-up then cosine decay, gradient clipping, evaluation every ``eval_every`` steps
on fixed batches (the same ones each time). Deterministic given ``seed``: the model is built
under a forked global RNG seeded from it, and the data come from a ``torch.Generator`` whose state
is checkpointed, so ``resume`` continues exactly (the resumed loss curve equals the uninterrupted
one). A run directory holds ``config.json``, ``metrics.jsonl`` and ``checkpoint.pt``, the
checkpoint written atomically (temporary file, then rename) and holding tensors and plain data
only: it is read with ``weights_only=True`` and never runs code. A NaN or infinite loss stops
the run with a ``FloatingPointError`` naming the step; the last good checkpoint stays.

``compile=True`` (``fwp train … --train.compile``) runs the training step through
``torch.compile(fullgraph=True)`` (``fastweights.models.compile_model``); evaluation and the
checkpoint use the uncompiled module, which shares its parameters.

``device="auto"`` trains on the GPU when there is one. ``bf16``: ``None`` (default) is bf16
autocast on the GPU and float32 on the CPU; ``True`` is bf16 autocast on either (the CPU's
autocast, worth it where the CPU has bf16 instructions, e.g. AVX512-bf16/AMX: docs/training.md);
``False`` is float32 everywhere. Parameters, states and the loss stay float32; the rules own their
precision. Under ``torchrun`` the same loop trains across processes
(``fastweights.train.distributed``: DDP or FSDP2).

``grad_accum = A`` splits each step's batch of ``batch_size`` rows into ``A`` micro-batches, each
backpropagated on its own with its share of the loss (by scored positions), so a step equals one
over the whole batch with a ``1/A`` of the activation memory.

``carry_state`` trains by truncated backpropagation through time on a task with ``streams``
(text: row ``b`` of each batch continues row ``b`` of the last): every block's state is carried
from step to step, detached, each row (and under ``torchrun`` each rank's rows) its own stream;
``reset_prob`` starts each stream's state afresh with that probability per step
(``fastweights.train.carry``). The checkpoint holds the streams' positions and the states, so
``resume`` stays exact.

The last step's record adds, for a text (a task with ``windows``) and ``final_eval``, the whole
validation split's bits per character carried and afresh (``metrics.whole_split``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fastweights.models import FWPModel, ModelConfig, compile_model
from fastweights.tasks import Task, chunk_batch, map_batch
from fastweights.train import carry, metrics
from fastweights.train.artifacts import describe_task
from fastweights.train.distributed import PARALLEL, join
from fastweights.train.objective import run_batch, score

CHECKPOINT = "checkpoint.pt"
_CHECKPOINT_KEYS = ("model", "optimizer", "generator", "step")  # what a run's checkpoint holds
LOGS = ("jsonl", "tensorboard")


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
    device: str = "auto"  # "auto" (the GPU when there is one), "cpu", "cuda", "cuda:1", ...
    bf16: bool | None = None  # bf16 autocast: None on the GPU only, True on the CPU too, False off
    parallel: str = "ddp"  # under torchrun: "ddp" (replicas) or "fsdp" (FSDP2, sharded)
    compile: bool = False  # the training step's forward and backward through torch.compile
    grad_accum: int = 1  # micro-batches per step (batch_size rows in all, divisible by it)
    carry_state: bool = False  # truncated BPTT on the task's streams: states carried, detached
    reset_prob: float = 0.0  # with carry_state: each stream starts afresh with this probability
    final_eval: bool = True  # the last record gets the whole validation split (texts)
    log: str = "jsonl"  # "jsonl": metrics.jsonl; "tensorboard": also TensorBoard event files

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "eval_batches", "grad_accum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{name} must be an int >= 1, got {value!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise ValueError(f"train.warmup_steps must be an int, got {self.warmup_steps!r}")
        for name in ("lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"train.{name} must be > 0, got {getattr(self, name)!r}")
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be divisible by train.grad_accum "
                f"({self.grad_accum}): every micro-batch has batch_size / grad_accum rows"
            )
        for name in ("compile", "carry_state", "final_eval"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"train.{name} must be a bool, got {getattr(self, name)!r}")
        if self.bf16 is not None and not isinstance(self.bf16, bool):
            raise ValueError(f"train.bf16 must be a bool or None, got {self.bf16!r}")
        p = self.reset_prob
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise ValueError(f"train.reset_prob must be a number in [0, 1), got {p!r}")
        if p and not self.carry_state:
            raise ValueError(
                f"train.reset_prob={p} resets carried states; it needs train.carry_state=true"
            )
        if self.log not in LOGS:
            raise ValueError(f"train.log must be one of {LOGS}, got {self.log!r}")
        if self.parallel not in PARALLEL:
            raise ValueError(f"train.parallel must be one of {PARALLEL}, got {self.parallel!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(f"train.device is not a device: {self.device!r}") from None

    def torch_device(self) -> torch.device:
        """The device to train on (``auto``: CUDA when available, else the CPU)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def autocast_enabled(self, device: torch.device) -> bool:
        """Whether training on ``device`` runs under bf16 autocast (see ``bf16``)."""
        return device.type == "cuda" if self.bf16 is None else self.bf16


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to 0 at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    return 0.5 * config.lr * (1 + math.cos(math.pi * (step - config.warmup_steps) / span))


def validation(task: Task) -> Task:
    """What a run evaluates on: the task's held-out ``valid_split()`` where it has one (language
    models: text the model never trains on), else the task itself (fresh generated batches)."""
    return task.valid_split() if hasattr(task, "valid_split") else task


def evaluate(model: FWPModel, task: Task, config: TrainConfig) -> dict[str, Any]:
    """``fastweights.train.metrics.evaluate`` on the run's fixed evaluation batches of ``task``."""
    device = next(model.parameters()).device
    return metrics.evaluate(
        model, task, batch_size=config.batch_size, batches=config.eval_batches,
        seed=config.seed + 1, device=device,
    )  # fmt: skip


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash leaves the old checkpoint or the new one, never half


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW's groups: every parameter decays by ``weight_decay``, except those marked
    ``_no_weight_decay`` (as fla marks Gated DeltaNet's ``A_log`` and ``dt_bias``: decay would
    pull the decay rates themselves towards zero), which form a second group without decay."""
    params = list(model.parameters())
    kept = [p for p in params if getattr(p, "_no_weight_decay", False)]
    decayed = [p for p in params if not getattr(p, "_no_weight_decay", False)]
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    return groups + ([{"params": kept, "weight_decay": 0.0}] if kept else [])


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents: tensors and plain containers only, read with
    ``torch.load(weights_only=True)``, so a checkpoint someone else prepared cannot run code. A
    file that holds anything else is refused, unread; a missing, corrupt or truncated one, or one
    without the model, optimizer, generator and step a run saves, is a clear one-line error."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch words it "GLOBAL x.y was not an allowed global" or, for os, subprocess and the
        # like, "unsupported GLOBAL x.y whose module x is blocked"
        unsafe = re.search(r"GLOBAL (\S+)", str(error))
        if unsafe:
            raise ValueError(
                f"checkpoint {path} refused: it names {unsafe.group(1)}, not a tensor or plain "
                "data, and loading it could run code"
            ) from None
        raise _corrupt(path, error) from None
    except Exception as error:  # truncated zip, not a torch file, ...
        raise _corrupt(path, error) from None
    missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"checkpoint {path} is not a run's checkpoint: it lacks {missing}")
    generator = state["generator"]
    if not (isinstance(generator, torch.Tensor) and generator.dtype == torch.uint8):
        raise ValueError(f"checkpoint {path}: 'generator' is not a generator state (uint8 tensor)")
    if isinstance(state["step"], bool) or not isinstance(state["step"], int):
        raise ValueError(f"checkpoint {path}: 'step' is not an int, got {state['step']!r}")
    return state


def _corrupt(path: Path, error: Exception) -> ValueError:
    return ValueError(
        f"checkpoint {path} is corrupt, truncated or not a checkpoint: {_first_sentence(error)}"
    )


def _first_sentence(error: Exception) -> str:
    """The gist of a reader's error, on one line (torch's zip errors run on for sentences)."""
    text = " ".join(str(error).split())
    return text.split(". ")[0].rstrip(".") or type(error).__name__


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
    """Train ``FWPModel(model_config)`` on ``task``; the run lives in ``run_dir``.

    Under ``torchrun``, every rank calls this alike; rank 0 writes the run directory and calls
    ``log``. Returns the trained model (unwrapped, in eval mode).
    """
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    device = config.torch_device()
    processes = join(config.parallel, device)
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run directory {run_dir} is not empty; pass resume=True to continue it")
    processes.barrier()  # nobody writes before everybody has looked
    with torch.random.fork_rng(devices=[]):  # the user's global RNG is left as it was
        torch.manual_seed(config.seed)
        model = FWPModel(model_config)
    model.to(device)
    wrapped = processes.wrap(model)
    optimizer = torch.optim.AdamW(parameter_groups(wrapped, config.weight_decay), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    streams = _streams(task, model, config)
    saved_states = None  # a resumed run's carried states, rebuilt at its first step
    start = 0
    if resume:
        state = load_checkpoint(checkpoint)
        try:
            processes.load(wrapped, optimizer, state)
            generator.set_state(state["generator"])
            if streams is not None:
                if "streams" not in state or "states" not in state:
                    raise ValueError("it holds no streams and states to carry (carry_state)")
                streams.load_state_dict(state["streams"])
                saved_states = state["states"]
        except (RuntimeError, ValueError, KeyError) as error:  # another model's checkpoint
            raise ValueError(
                f"checkpoint {checkpoint} does not fit this run: {_first_sentence(error)}"
            ) from None
        start = state["step"]
        if processes.is_main:
            _truncate_metrics(run_dir / "metrics.jsonl", start)
    elif processes.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        saved = task.save_artifacts(run_dir) if hasattr(task, "save_artifacts") else task
        described = {
            "task": {"name": type(task).__name__, **describe_task(saved, run_dir)},
            "model": dataclasses.asdict(model_config),
            "train": dataclasses.asdict(config),
        }
        (run_dir / "config.json").write_text(json.dumps(described, indent=2, default=str))

    board = None
    if config.log == "tensorboard" and processes.is_main:
        from fastweights.train.tensorboard import TensorBoardLogger

        board = TensorBoardLogger(run_dir)

    def record(entry: dict[str, Any]) -> None:
        if not processes.is_main:
            return
        with (run_dir / "metrics.jsonl").open("a") as sink:
            sink.write(json.dumps(entry) + "\n")
        if board is not None:
            board.log(entry)
        if log is not None:
            log(entry)

    autocast = torch.autocast(device.type, torch.bfloat16, enabled=config.autocast_enabled(device))
    # the compiled module shares the parameters; states are saved from the uncompiled one
    stepper = compile_model(wrapped) if config.compile else wrapped
    parts = config.grad_accum
    carried: list[Any] = [None] * parts  # per micro-batch: its rows' states, one per block
    wrapped.train()
    for step in range(start, config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        # the global batch, alike on all ranks; each rank trains on its rows (its streams)
        batch = streams.sample(generator) if streams else task.sample(config.batch_size, generator)
        reset = None
        if config.reset_prob:
            reset = torch.rand(config.batch_size, generator=generator) < config.reset_prob
            reset = processes.shard(reset).chunk(parts)
        batch = map_batch(batch, lambda t: processes.shard(t).to(device))
        micro = chunk_batch(batch, parts)
        if saved_states is not None:
            carried = carry.from_checkpoint(model, saved_states, micro[0].x, parts, processes)
            saved_states = None
        scored = batch.mask.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        for i, part in enumerate(micro):
            states = carried[i]
            if reset is not None and states is not None:
                states = carry.reset_rows(model, states, reset[i])
            with autocast:
                logits, states = run_batch(stepper, part, states)
                result = score(task, part, logits.float())
            share = result.loss * (part.mask.sum() / scored)  # the whole batch's mean, summed
            share.backward()
            total = total + share.detach()
            if streams is not None:
                carried[i] = carry.detach(states)
        loss = processes.mean(total)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at step {step}; the last good checkpoint "
                f"({checkpoint}) is kept"
            )
        torch.nn.utils.clip_grad_norm_(wrapped.parameters(), config.grad_clip)
        optimizer.step()
        entry = {
            "step": step + 1, "loss": loss.item(), "lr": learning_rate(step, config),
            "tokens": config.batch_size * batch.x.shape[1],  # this step's (global batch)
        }  # fmt: skip
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            wrapped.eval()
            with autocast:
                entry |= evaluate(wrapped, validation(task), config)
                if step + 1 == config.steps and config.final_eval:
                    entry |= _whole_split(model, validation(task), config, device)
                if board is not None:
                    board.block_states(model, micro[0].x[:1], step + 1)
            wrapped.train()
            state = processes.state_dicts(wrapped, optimizer)
            if streams is not None:
                state["streams"] = streams.state_dict()
                state["states"] = carry.to_checkpoint(model, carried, processes)
            if processes.is_main:
                _save(checkpoint, {**state, "generator": generator.get_state(), "step": step + 1})
            processes.barrier()  # a resumed rank never reads a checkpoint still being written
        record(entry)
    if board is not None:
        board.close()
    model.eval()
    return model


def _streams(task: Task, model: torch.nn.Module, config: TrainConfig) -> Any:
    """The task's stream sampler when the run carries states (``carry_state``), else None."""
    if not config.carry_state:
        return None
    if not hasattr(task, "streams"):
        raise ValueError(
            f"train.carry_state needs a task with streams (a text); {type(task).__name__} has "
            "none: its batches do not continue each other"
        )
    if config.reset_prob:
        carry.check_resettable(model)
    return task.streams(config.batch_size)


def _whole_split(
    model: FWPModel, task: Task, config: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """A text's whole validation split, carried and afresh (``metrics.whole_split``); {} else."""
    if not hasattr(task, "windows"):
        return {}
    return metrics.whole_split(model, task, batch_size=config.batch_size, device=device)
