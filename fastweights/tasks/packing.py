"""``pack_documents``: documents (1-D token tensors) packed into one row for language modelling.

For documents ``d_1 .. d_N`` of lengths ``T_1 .. T_N``::

    x          = [d_1 | d_2 | .. | d_N]                     [1, ΣT]
    y_t        = x_{t+1}   within a document                [1, ΣT]
    mask_t     = False at each document's last token        [1, ΣT] (no target across the boundary)
    cu_seqlens = [0, T_1, T_1+T_2, .., ΣT]                   [N+1] int32 (FlashAttention's form)

``x, y, mask`` follow the task contract (``fastweights.tasks.base.Batch``: ``y`` is 0 where
``mask`` is False); with a model that runs each document alone
(``FWPModel.forward(x, cu_seqlens=cu_seqlens)``) no document's loss reads another document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class PackedDocuments(NamedTuple):
    """``x, y, mask`` ``[1, ΣT]`` and ``cu_seqlens`` ``[N+1]`` (see the module docstring)."""

    x: Tensor
    y: Tensor
    mask: Tensor
    cu_seqlens: Tensor


def pack_documents(documents: Sequence[Tensor]) -> PackedDocuments:
    """Pack 1-D int token tensors (each at least one token) into one row of next-token targets."""
    if isinstance(documents, Tensor) or not isinstance(documents, Sequence) or not documents:
        raise ValueError("documents must be a non-empty sequence of 1-D token tensors")
    for i, doc in enumerate(documents):
        if not isinstance(doc, Tensor):
            raise TypeError(f"document {i} must be a torch.Tensor, got {type(doc).__name__}")
        if doc.dim() != 1 or doc.dtype not in (torch.int32, torch.int64) or not len(doc):
            raise ValueError(
                f"document {i} must be a non-empty 1-D int32/int64 tensor of token ids, got "
                f"{doc.dim()}-D {doc.dtype} {list(doc.shape)}"
            )
    x = torch.cat([doc.long() for doc in documents])  # [ΣT]
    lengths = torch.tensor([len(doc) for doc in documents], device=x.device)
    ends = lengths.cumsum(0)  # [N]
    y = torch.cat([x[1:], x.new_zeros(1)])  # the next token, across boundaries for now
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[ends - 1] = False  # a document's last token has no next token in it
    y = torch.where(mask, y, 0)
    cu_seqlens = torch.cat([ends.new_zeros(1), ends]).to(torch.int32)  # [N+1]
    return PackedDocuments(x[None], y[None], mask[None], cu_seqlens)
