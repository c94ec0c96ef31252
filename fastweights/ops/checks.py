"""Input checks shared by every learning rule: shapes, dtypes, devices, options.

Each failure raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape
or value) with the expected and the actual in the message. The finiteness check is applied to the
small inputs only (``beta``, gates, the initial state), where it costs little: a NaN in ``q``, ``k``
or ``v`` shows up in the output anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from itertools import pairwise

import torch
from torch import Tensor


def _tensor(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _shape(name: str, x: Tensor, expected: tuple[int, ...], layout: str) -> None:
    if tuple(x.shape) != expected:
        raise ValueError(f"{name} must have shape {layout} = {list(expected)}, got {list(x.shape)}")


def _finite(name: str, x: Tensor) -> None:
    # skipped while torch.compile traces (a data-dependent branch would break the graph); only
    # ask when dynamo is loaded: without it nothing is traced, and importing it takes seconds
    if "torch._dynamo" in sys.modules and torch.compiler.is_compiling():
        return
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")


def check_rule_inputs(
    rule: str,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    gates: Mapping[str, Tensor],
    initial_state: Tensor | None,
    cu_seqlens: Tensor | None,
    *,
    per_channel_beta: bool,
) -> list[int] | None:
    """Check the ``[B, T, H, D]`` contract; return the lengths of the sequences packed, if any."""
    for name, x in (("q", q), ("k", k), ("v", v), ("beta", beta), *gates.items()):
        _tensor(f"{rule}: {name}", x)
    if q.dim() != 4:
        raise ValueError(f"{rule}: q must be 4-D [B, T, H, K], got shape {list(q.shape)}")
    B, T, H, K = q.shape
    if T < 1:
        raise ValueError(f"{rule}: sequence length T must be >= 1, got {T}")
    _shape(f"{rule}: k", k, (B, T, H, K), "[B, T, H, K]")
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, T, H):
        raise ValueError(
            f"{rule}: v must have shape [B, T, H, V] = [{B}, {T}, {H}, V], got {list(v.shape)}"
        )
    V = v.shape[3]
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(
            f"{rule}: q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if tuple(beta.shape) != (B, T, H) and not (
        per_channel_beta and tuple(beta.shape) == (B, T, H, V)
    ):
        allowed = f"[B, T, H] = {[B, T, H]}"
        if per_channel_beta:
            allowed += f" or [B, T, H, V] = {[B, T, H, V]}"
        raise ValueError(f"{rule}: beta must have shape {allowed}, got {list(beta.shape)}")
    for name, gate in gates.items():
        _shape(f"{rule}: {name}", gate, (B, T, H), "[B, T, H]")
    tensors = {"q": q, "k": k, "v": v, "beta": beta, **gates}
    lengths = None if cu_seqlens is None else check_cu_seqlens(cu_seqlens, B, T)
    n_states = B if lengths is None else len(lengths)
    if initial_state is not None:
        _tensor(f"{rule}: initial_state", initial_state)
        _shape(f"{rule}: initial_state", initial_state, (n_states, H, K, V), "[N, H, K, V]")
        tensors["initial_state"] = initial_state
    devices = {name: x.device for name, x in tensors.items()}
    if len(set(devices.values())) > 1:
        found = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise ValueError(f"{rule}: all inputs must be on one device, got {found}")
    for name in ("beta", *gates, *(["initial_state"] if initial_state is not None else [])):
        _finite(f"{rule}: {name}", tensors[name])
    return lengths


def check_chunk_size(chunk_size: object) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    return chunk_size


def check_cu_seqlens(cu_seqlens: object, batch: int, total: int) -> list[int]:
    """Check cumulative lengths ``[0, T_1, T_1+T_2, .., ΣT]``; return the lengths."""
    if not isinstance(cu_seqlens, Tensor):
        raise TypeError(f"cu_seqlens must be a torch.Tensor, got {type(cu_seqlens).__name__}")
    if cu_seqlens.dtype not in (torch.int32, torch.int64) or cu_seqlens.dim() != 1:
        raise TypeError(
            "cu_seqlens must be a 1-D int32/int64 tensor, "
            f"got {cu_seqlens.dim()}-D {cu_seqlens.dtype}"
        )
    if batch != 1:
        raise ValueError(
            f"with cu_seqlens the inputs must be packed as [1, ΣT, H, D], got B={batch}"
        )
    bounds = cu_seqlens.tolist()
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != total:
        raise ValueError(f"cu_seqlens must run from 0 to T={total}, got {bounds}")
    lengths = [b - a for a, b in pairwise(bounds)]
    if min(lengths) <= 0:
        raise ValueError(f"cu_seqlens must be strictly increasing, got {bounds}")
    return lengths
