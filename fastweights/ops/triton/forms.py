"""The Triton forms of the learning rules, as ``LearningRule`` kernel forms.

A form gets the rule's checked inputs in the caller's dtypes (float32, bfloat16, float16; the
state float32; varlen batches already unpacked by padding) and returns ``(o, S)``, ``o`` in the
dtype of ``v``. Names the rules register:

* ``"triton_chunk"``: the chunkwise kernels of ``delta`` and ``gated_delta`` (``sum`` has no chunk
  kernel);
* ``"triton_recurrent"``: the fused recurrent kernels of all three.

Per-channel rates ``β [B, T, H, V]``: the recurrent kernels take them as they are (value channels
never mix); the chunk form runs value channel ``j`` of head ``h`` as head ``h·V + j`` with
``V = 1`` (``rule.per_channel_as_heads``, as the PyTorch chunk form does).
"""

from __future__ import annotations

from torch import Tensor

from fastweights.ops.rule import per_channel_as_heads
from fastweights.ops.triton import library
from fastweights.ops.triton.chunk import check_chunk_kernel_shapes
from fastweights.ops.triton.common import check_kernel_inputs


def _checked(rule: str, *tensors: Tensor | None) -> list[Tensor | None]:
    given = [x for x in tensors if x is not None]
    check_kernel_inputs(rule, *given)
    return [None if x is None else x.contiguous() for x in tensors]


def sum_recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int, scale: float
) -> tuple[Tensor, Tensor]:
    """The sum rule, fused recurrent kernel (``chunk_size`` does not apply)."""
    q, k, v, beta = _checked("sum", q, k, v, beta)
    o, S, _ = library.recurrent_fwd(q, k, v, beta, None, state.contiguous(), scale, False)
    return o, S


def delta_recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int,
    scale: float, g: Tensor | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The (gated, with ``g``) delta rule, fused recurrent kernel."""
    rule = "delta" if g is None else "gated_delta"
    q, k, v, beta, g = _checked(rule, q, k, v, beta, g)
    o, S, _ = library.recurrent_fwd(q, k, v, beta, g, state.contiguous(), scale, True)
    return o, S


def delta_chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int,
    scale: float, g: Tensor | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The (gated, with ``g``) delta rule, chunkwise kernels."""
    rule = "delta" if g is None else "gated_delta"
    check_chunk_kernel_shapes(rule, q.shape[-1], chunk_size)
    if beta.dim() == 4:
        return per_channel_as_heads(
            delta_chunk, q, k, v, beta, state, chunk_size=chunk_size, scale=scale, g=g
        )
    q, k, v, beta, g = _checked(rule, q, k, v, beta, g)
    o, S, *_ = library.chunk_fwd(q, k, v, beta, g, state.contiguous(), scale, chunk_size)
    return o, S
