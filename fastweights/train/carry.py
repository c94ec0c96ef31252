"""Carrying every layer's state across training steps (truncated backpropagation through time).

With ``TrainConfig.carry_state`` the trainer reads a task's ``streams`` (row ``b`` of each batch
continues row ``b`` of the last: ``fastweights.tasks.text_windows.TextStreams``) and feeds each
block's state from one step into the next, ``detach``-ed, so gradients stop at the window while
the state runs on. A state is whatever the mixer returns: a tensor, or a (Named)tuple of tensors
(``FastWeightState(fast, conv)``, a cell's state, a key/value cache); every helper here walks it
as a pytree.

- Rows are the batch dimension of every tensor of a state: dim 0, except ``nn.LSTM``'s
  ``(h, c) [1, B, d]`` (dim 1; ``batch_dims``).
- ``reset_rows`` starts chosen rows afresh (``TrainConfig.reset_prob``): their state becomes the
  mixer's ``fresh_state`` (a cell's learned or fixed initial state) or zeros (fast weights,
  convolution caches, LSTM states, whose fresh state is zero). A key/value cache (``transformer``,
  ``softmax``) cannot drop one row's positions, so resetting one is a ``ValueError``
  (``check_resettable``, before training starts).
- A checkpoint holds the states as plain tensors, per layer the leaves of the global batch
  (``to_checkpoint``: micro-batches joined, ranks gathered, on the CPU), and ``from_checkpoint``
  rebuilds them (the structure from a one-token forward of the model: NamedTuples are not plain
  data that ``torch.load(weights_only=True)`` reads).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import Tensor, nn

from fastweights.nn import RotaryAttention, SoftmaxAttention
from fastweights.train.distributed import Processes

States = list[Any]  # one state per block, as FWPModel.forward returns them
_CACHES = (RotaryAttention, SoftmaxAttention)  # states that grow per position (key/value caches)


def detach(states: Any) -> Any:
    """``states`` with every tensor detached (the same structure: tuples, NamedTuples, lists)."""
    return pytree.tree_map_only(Tensor, lambda t: t.detach(), states)


def mixers(model: nn.Module) -> list[nn.Module]:
    """The mixer of each block of ``model`` (an ``FWPModel``, possibly inside DDP)."""
    plain = getattr(model, "module", model)
    return [block.mixer for block in plain.blocks]


def batch_dims(model: nn.Module) -> list[int]:
    """Per block, the dimension of its state's tensors that holds the rows (the streams)."""
    return [1 if any(isinstance(m, nn.LSTM) for m in mixer.modules()) else 0
            for mixer in mixers(model)]  # fmt: skip


def check_resettable(model: nn.Module) -> None:
    """``ValueError`` if a block's state cannot start one row afresh (a key/value cache)."""
    caches = [type(m).__name__ for m in mixers(model) if isinstance(m, _CACHES)]
    if caches:
        raise ValueError(
            f"train.reset_prob > 0 resets single streams, but {caches[0]}'s key/value cache "
            "cannot drop one row's positions; use reset_prob=0 (or a mixer with a fixed-size state)"
        )


def reset_rows(model: nn.Module, states: States, reset: Tensor) -> States:
    """``states`` with the rows where ``reset [b]`` (bool) is True started afresh."""
    out = []
    for mixer, dim, state in zip(mixers(model), batch_dims(model), states, strict=True):
        if state is None or not bool(reset.any()):
            out.append(state)
            continue
        if isinstance(mixer, _CACHES):
            check_resettable(model)
        if hasattr(mixer, "fresh_state"):
            fresh = mixer.fresh_state(reset.shape[0])
        else:
            fresh = pytree.tree_map_only(Tensor, torch.zeros_like, state)

        def keep(carried: Tensor, start: Tensor, dim: int = dim) -> Tensor:
            shape = [1] * carried.dim()
            shape[dim] = -1
            mask = reset.to(carried.device).view(shape)
            return torch.where(mask, start.to(carried.dtype), carried)

        out.append(pytree.tree_map(keep, state, fresh))
    return out


def _rows(model: nn.Module, parts: list[States]) -> States:
    """Micro-batches' states joined row-wise into one state per block."""
    joined = []
    for layer, dim in enumerate(batch_dims(model)):
        per_part = [part[layer] for part in parts]
        joined.append(pytree.tree_map(lambda *t, dim=dim: torch.cat(t, dim), *per_part))
    return joined


def to_checkpoint(
    model: nn.Module, parts: list[States], processes: Processes
) -> list[list[Tensor]]:
    """The global batch's states, per block the list of its leaves (CPU tensors, plain data).

    Every rank calls it (it gathers the ranks' rows, in rank order, as ``shard`` split them)."""
    leaves = []
    for dim, state in zip(batch_dims(model), _rows(model, parts), strict=True):
        flat = pytree.tree_leaves(state)
        leaves.append([processes.gather(t.detach(), dim).cpu() for t in flat])
    return leaves


def from_checkpoint(
    model: nn.Module, saved: Any, x: Tensor, parts: int, processes: Processes
) -> list[States]:
    """The states ``to_checkpoint`` saved, for this rank's ``parts`` micro-batches; ``x`` is the
    first micro-batch's input (its one-token forward gives the states' structure)."""
    dims = batch_dims(model)
    if not isinstance(saved, list) or len(saved) != len(dims):
        raise ValueError(
            f"the checkpoint's carried states are not one list per block ({len(dims)})"
        )
    with torch.no_grad():
        _, template = getattr(model, "module", model)(x[:, :1])
    device = x.device
    result: list[States] = [[] for _ in range(parts)]
    for dim, leaves, like in zip(dims, saved, template, strict=True):
        spec = pytree.tree_structure(like)
        if not isinstance(leaves, list) or len(leaves) != spec.num_leaves:
            raise ValueError(
                f"the checkpoint's carried states do not fit this model: {spec.num_leaves} "
                f"tensors per block expected"
            )
        local = [processes.shard(t, dim).to(device) for t in leaves]
        for part, pieces in enumerate(zip(*(t.chunk(parts, dim) for t in local), strict=True)):
            result[part].append(pytree.tree_unflatten(list(pieces), spec))
    return result
