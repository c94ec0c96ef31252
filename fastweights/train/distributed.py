"""Multi-process training on PyTorch's own engine: DDP, or FSDP2 (``fully_shard``).

``fwp train`` run under ``torchrun --nproc_per_node=N`` finds ``WORLD_SIZE``/``RANK`` in its
environment and joins the process group (gloo on CPU, NCCL on GPU). Every rank draws the same
global batch from the same generator and trains on its own slice of ``batch_size / N`` rows, so
the data stream, and with it ``resume``, is the single-process one; gradients are averaged by DDP
(or reduce-scattered by FSDP2). Rank 0 alone writes the run directory. With ``carry_state`` each
rank carries the states of its own rows (its own streams); a checkpoint gathers them in rank
order (``gather``), so it holds the global batch's states, as one process would.

- ``parallel="ddp"``: the model is replicated, ``DistributedDataParallel``;
- ``parallel="fsdp"``: each block and then the whole model is ``fully_shard``-ed (FSDP2), for
  models that outgrow one device; checkpoints are gathered to full tensors on rank 0 and loaded
  back shard by shard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

PARALLEL = ("ddp", "fsdp")


@dataclass(frozen=True)
class Processes:
    """This process's place in the job: ``rank`` of ``world_size`` (1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    parallel: str = "ddp"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, x: Tensor, dim: int = 0) -> Tensor:
        """This rank's rows of a global batch ``[B, ...]`` (``B`` divisible by ``world_size``;
        the rows along ``dim``)."""
        if not self.distributed:
            return x
        if x.shape[dim] % self.world_size:
            raise ValueError(
                f"train.batch_size ({x.shape[dim]}) must be divisible by the number of "
                f"processes ({self.world_size})"
            )
        return x.chunk(self.world_size, dim)[self.rank]

    def gather(self, x: Tensor, dim: int = 0) -> Tensor:
        """The inverse of ``shard``: every rank's rows along ``dim``, in rank order (every rank
        gets them; the ranks' shapes must agree)."""
        if not self.distributed:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world_size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim)

    def mean(self, value: Tensor) -> Tensor:
        """The mean of a scalar over all ranks (every rank gets it)."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` ready for training across the ranks (itself when not distributed)."""
        if not self.distributed:
            return model
        if self.parallel == "ddp":
            return nn.parallel.DistributedDataParallel(model)
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:  # type: ignore[union-attr]
            fully_shard(block)
        return fully_shard(model)

    def state_dicts(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Full (unsharded) model and optimizer state, on rank 0 (others may get empty dicts)."""
        if not (self.distributed and self.parallel == "fsdp"):
            plain = model.module if self.distributed else model
            return {"model": plain.state_dict(), "optimizer": optimizer.state_dict()}
        from torch.distributed.checkpoint import state_dict as dcp

        options = dcp.StateDictOptions(full_state_dict=True, cpu_offload=True)
        return {
            "model": dcp.get_model_state_dict(model, options=options),
            "optimizer": dcp.get_optimizer_state_dict(model, optimizer, options=options),
        }

    def load(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """Load a full checkpoint's model and optimizer state into (wrapped) ``model``."""
        if not (self.distributed and self.parallel == "fsdp"):
            plain = model.module if self.distributed else model
            plain.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            return
        from torch.distributed.checkpoint import state_dict as dcp

        options = dcp.StateDictOptions(full_state_dict=True)
        dcp.set_model_state_dict(model, state["model"], options=options)
        dcp.set_optimizer_state_dict(model, optimizer, state["optimizer"], options=options)


def join(parallel: str, device: torch.device) -> Processes:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    if parallel not in PARALLEL:
        raise ValueError(f"train.parallel must be one of {PARALLEL}, got {parallel!r}")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(parallel=parallel)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), parallel)
