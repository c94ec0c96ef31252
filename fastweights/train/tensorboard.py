"""TensorBoard logging of a run beside its ``metrics.jsonl`` (the ``tensorboard`` extra).

``TensorBoardLogger(run_dir)`` writes event files into ``run_dir/tensorboard``;
``log(record)`` takes one of the training loop's metric records (a dict with ``"step"`` and
scalars: ``loss``, ``eval_loss``, ``lr``, ...) and writes every number in it at that step, under
its key (a nested dict, such as accuracy by length, under ``key/subkey``; text, lists and
``None`` are skipped). ``fast_weights(tag, S, step)`` writes a fast-weight state ``S [H, K, V]``
(one sequence's; ``[B, H, K, V]``: the first) as one grey image per head of the matrix
``W = Sᵀ`` (rows: V, columns: K), each scaled to its own largest magnitude, 0.5 grey is 0.
``block_states(model, x, step)`` runs ``model(x)`` and writes each block's fast weights (the
first ``[B, H, K, V]`` tensor of its state) that way; the training loop calls it at every
evaluation (``--train.log=tensorboard``). ``close()`` (or leaving ``with``) flushes and closes
the files. ``tensorboard --logdir RUN`` shows them.
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FOLDER = "tensorboard"


class TensorBoardLogger:
    """Scalars of the loop's metric records, and fast-weight images, for one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard logging needs the tensorboard package: pip install "
                              "'fastweights[tensorboard]'") from None  # fmt: skip
        self.folder = Path(run_dir) / FOLDER
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def log(self, record: dict[str, Any]) -> None:
        """Write every number of ``record`` at ``record["step"]``."""
        step = record.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"a metric record needs an int 'step', got {step!r}")
        for tag, value in _scalars(record):
            if tag != "step":
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()  # on disk at once: a run that stops with an error loses nothing

    def fast_weights(self, tag: str, state: Tensor, step: int) -> None:
        """One image per head of ``W = Sᵀ`` of ``state [H, K, V]`` (or ``[B, H, K, V]``)."""
        if state.dim() == 4:
            state = state[0]
        if state.dim() != 3:
            raise ValueError(f"a fast-weight state must be [H, K, V] or [B, H, K, V], got "
                             f"{list(state.shape)}")  # fmt: skip
        w = state.detach().float().cpu().transpose(1, 2)  # [H, V, K]: W = Sᵀ per head
        scale = w.abs().amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        images = 0.5 + 0.5 * w / scale  # [H, V, K] in [0, 1]
        for head, image in enumerate(images):
            self.writer.add_image(f"{tag}/head{head}", image, step, dataformats="HW")

    def block_states(self, model: torch.nn.Module, x: Tensor, step: int) -> None:
        """``fast_weights("fast_weights/block{i}", ...)`` of every block's state after ``x``."""
        with torch.no_grad():
            _, states = model(x)
        for i, state in enumerate(states):
            matrix = _first_matrix(state)
            if matrix is not None:
                self.fast_weights(f"fast_weights/block{i}", matrix, step)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scalars(record: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for key, value in record.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _scalars(value, f"{tag}/")
        elif isinstance(value, Tensor) and value.numel() == 1:
            out.append((tag, float(value)))
        elif isinstance(value, Real) and not isinstance(value, bool):
            out.append((tag, float(value)))  # NaN and inf too: a diverged run shows as one
    return out


def _first_matrix(state: Any) -> Tensor | None:
    """The first 4-D floating tensor of a (nested) state: a block's fast weights, or None."""
    if isinstance(state, Tensor):
        return state if state.dim() == 4 and state.is_floating_point() else None
    if isinstance(state, (tuple, list)):
        for part in state:
            found = _first_matrix(part)
            if found is not None:
                return found
    return None
