"""Documents run by ``FWPModel`` apart from each other: packed (``cu_seqlens``) or padded
(``attention_mask``).

Packed, FlashAttention's convention: ``x [1, ΣT]`` holds N documents one after another and
``cu_seqlens = [0, T_1, T_1+T_2, .., ΣT]`` (int32/int64, strictly increasing). Every document
runs as if alone: short convolutions and cells start from their initial state, attention sees its
own document only (RoPE positions from 0). Padded: ``attention_mask [B, T]`` (1 = token, 0 = pad;
one run of tokens per row, padded on the right, the left or both) picks each row's document.

How (exact for every mixer, since every mixer is causal and carries its state across calls):
the documents, longest first, form a zero-padded batch ``[N, max T]`` that runs through the
blocks in time segments cut at the distinct document lengths; after each segment the documents
that end there leave the batch with their states, so no document ever reads a pad and its state
is the one at its own last token. No token runs twice, nothing is computed on pads, and the calls
per block are as many as the distinct lengths (``torch.nn.utils.rnn.PackedSequence``'s scheme).

Outputs: per token, packed ``[1, ΣT, n_out]`` (padded: ``[B, T, n_out]``, 0 at the pads);
``pool="last"``/``"mean"``: one row per document, ``[N, n_out]`` (its last token / the mean over
its tokens). States: one per block, the N documents' states batched as a plain call's (batch dim
N, in document order), so ``model(next_ids [N, T'], states)`` carries every document on. A
key/value cache grows with its document: when the documents' lengths differ, such a block's state
is ``PerDocument``, the N caches apart (``document_states`` picks one document's states).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import pad
from torch.nn.utils.rnn import pad_sequence

from fastweights.nn import LSTMMixer


class PerDocument(tuple):
    """One block's states of N documents, apart because their shapes differ (key/value caches
    of documents of different lengths); entry n is document n's state with batch size 1."""


def check_cu_seqlens(cu_seqlens: object, total: int) -> list[int]:
    """``cu_seqlens`` ``[N+1]`` (0 first, ``total`` last, strictly increasing) -> the N lengths."""
    if not isinstance(cu_seqlens, Tensor):
        raise TypeError(f"cu_seqlens must be a torch.Tensor, got {type(cu_seqlens).__name__}")
    if cu_seqlens.dtype not in (torch.int32, torch.int64) or cu_seqlens.dim() != 1:
        raise ValueError(
            f"cu_seqlens must be a 1-D int32/int64 tensor [N+1], got {cu_seqlens.dim()}-D "
            f"{cu_seqlens.dtype} {list(cu_seqlens.shape)}"
        )
    bounds = cu_seqlens.tolist()
    lengths = [b - a for a, b in pairwise(bounds)]
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != total or min(lengths) <= 0:
        raise ValueError(
            f"cu_seqlens must run from 0 to ΣT={total}, strictly increasing, got {bounds}"
        )
    return lengths


def check_attention_mask(mask: object, x: Tensor) -> Tensor:
    """``mask [B, T]`` of 0/1, one run of 1s per row (at least one) -> the same as bool."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"attention_mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"attention_mask must be [B, T] = {list(x.shape[:2])}, got {list(mask.shape)}"
        )
    if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("attention_mask must hold only 0 (pad) and 1 (token)")
    mask = mask.bool()
    position = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    first = torch.where(mask, position, mask.shape[1]).amin(1)
    last = torch.where(mask, position, -1).amax(1)
    if not bool((mask.sum(1) == last - first + 1).all()) or not bool(mask.any(1).all()):
        rows = torch.nonzero(mask.sum(1) != last - first + 1).flatten().tolist()
        raise ValueError(
            "attention_mask needs one run of 1s per row (padding on the left or the right, "
            f"no hole, no empty row); rows {rows} are not"
        )
    return mask


def forward_documents(
    model: nn.Module,
    x: Tensor,
    states: list[Any] | None,
    cu_seqlens: Tensor | None,
    attention_mask: Tensor | None,
) -> tuple[Tensor, list[Any]]:
    """``FWPModel.forward`` with ``cu_seqlens`` or ``attention_mask`` (see the module)."""
    if cu_seqlens is not None and attention_mask is not None:
        raise ValueError("give cu_seqlens (packed) or attention_mask (padded), not both")
    if states is not None:
        raise ValueError(
            "documents start from the mixers' initial states: give states=None with "
            "cu_seqlens / attention_mask, and carry a document on with a plain call"
        )
    if cu_seqlens is not None:
        if x.shape[0] != 1:
            raise ValueError(f"with cu_seqlens, x must be packed as [1, ΣT], got B={x.shape[0]}")
        lengths = check_cu_seqlens(cu_seqlens, x.shape[1])
        tokens = x[0]  # [ΣT] or [ΣT, d_input]
    else:
        mask = check_attention_mask(attention_mask, x)
        lengths = mask.sum(1).tolist()
        tokens = x[mask]  # [ΣT] or [ΣT, d_input], row by row
    h, states = run_blocks(model.blocks, model.embed(tokens), lengths)  # h [ΣT, d]
    h = model.norm(h)
    if model.config.pool != "none":
        return model.head(pool(h, lengths, model.config.pool)), states  # [N, n_out]
    out = model.head(h)  # [ΣT, n_out]
    if cu_seqlens is not None:
        return out.unsqueeze(0), states
    padded = out.new_zeros(*mask.shape, out.shape[-1])  # [B, T, n_out], 0 at the pads
    padded[mask] = out
    return padded, states


def pool(h: Tensor, lengths: list[int], how: str) -> Tensor:
    """``h [ΣT, d]`` -> ``[N, d]``: each document's last token (``"last"``) or mean."""
    counts = torch.tensor(lengths, device=h.device)
    if how == "last":
        return h[counts.cumsum(0) - 1]
    document = torch.repeat_interleave(torch.arange(len(lengths), device=h.device), counts)
    sums = h.new_zeros(len(lengths), h.shape[-1]).index_add_(0, document, h)
    return sums / counts.to(h.dtype).unsqueeze(1)


def run_blocks(blocks: nn.ModuleList, h: Tensor, lengths: list[int]) -> tuple[Tensor, list[Any]]:
    """``h [ΣT, d]`` (documents of ``lengths`` one after another) through ``blocks``, each
    document alone -> ``(h [ΣT, d], states)``, states batched over the documents."""
    n_docs = len(lengths)
    order = sorted(range(n_docs), key=lambda i: -lengths[i])  # longest first
    pieces = h.split(lengths)
    batch = pad_sequence([pieces[i] for i in order], batch_first=True)  # [N, max T, d]
    dims = [batch_dim(block.mixer) for block in blocks]
    states: list[Any] = [None] * len(blocks)
    ended: list[list[Any]] = [[] for _ in blocks]  # per block: states of the documents ended
    outputs, start = [], 0
    for end in sorted(set(lengths)):
        active = sum(n >= end for n in lengths)  # the first `active` documents of `order`
        states = [narrow(s, d, 0, active) for s, d in zip(states, dims, strict=True)]
        y = batch[:active, start:end]  # [active, end − start, d]
        for i, block in enumerate(blocks):
            y, states[i] = block(y, states[i])
        outputs.append(pad(y, (0, 0, 0, 0, 0, n_docs - active)))  # [N, end − start, d]
        done = sum(n == end for n in lengths)  # these end here: the last `done` active ones
        for i, (s, d) in enumerate(zip(states, dims, strict=True)):
            ended[i].append(narrow(s, d, active - done, done))
        start = end
    out = torch.cat(outputs, dim=1)  # [N, max T, d] in `order`, 0 past each document's end
    inverse = torch.tensor(sorted(range(n_docs), key=order.__getitem__), device=h.device)
    out = out[inverse]  # document order
    ends = torch.tensor(lengths, device=h.device)[:, None]
    real = torch.arange(out.shape[1], device=h.device) < ends  # [N, max T]
    # ended chunks run from the shortest documents to the longest: reversed, they are in `order`
    states = [gather(chunks[::-1], d, inverse) for chunks, d in zip(ended, dims, strict=True)]
    return out[real], states  # [ΣT, d], document by document


def batch_dim(mixer: nn.Module) -> int:
    """The batch dimension of ``mixer``'s state tensors: 1 for ``nn.LSTM``'s ``(h, c)``
    ``[layers, B, d]``, 0 for every other mixer."""
    return 1 if isinstance(mixer, LSTMMixer) else 0


def tree_map(fn: Callable[..., Tensor], *states: Any) -> Any:
    """``fn`` over the tensors of states of one structure (tensors in (named) tuples, None)."""
    first = states[0]
    if first is None or isinstance(first, Tensor):
        return None if first is None else fn(*states)
    if not isinstance(first, tuple):
        raise TypeError(f"a mixer's state must be tensors in (named) tuples, got {type(first)}")
    parts = [tree_map(fn, *group) for group in zip(*states, strict=True)]
    return type(first)(*parts) if hasattr(first, "_fields") else tuple(parts)


def narrow(state: Any, dim: int, start: int, length: int) -> Any:
    return tree_map(lambda t: t.narrow(dim, start, length), state)


def gather(chunks: list[Any], dim: int, index: Tensor) -> Any:
    """States of the documents in length order, chunk by chunk -> batched in document order
    (``index``), or ``PerDocument`` where shapes differ (key/value caches of other lengths)."""
    shapes: list[set[tuple[int, ...]]] = []

    def note(*tensors: Tensor) -> Tensor:
        shapes.append({t.shape[:dim] + t.shape[dim + 1 :] for t in tensors})
        return tensors[0]

    tree_map(note, *chunks)
    if all(len(group) == 1 for group in shapes):
        return tree_map(lambda *t: torch.cat(t, dim).index_select(dim, index), *chunks)
    single = [narrow(c, dim, j, 1) for c in chunks for j in range(batch_size(c, dim))]
    return PerDocument(single[j] for j in index.tolist())


def batch_size(state: Any, dim: int) -> int:
    sizes: list[int] = []
    tree_map(lambda t: sizes.append(t.shape[dim]) or t, state)
    return sizes[0]


def document_states(model: nn.Module, states: list[Any], n: int) -> list[Any]:
    """Document ``n``'s states (batch size 1), one per block, from a call on documents, to carry
    it on alone: ``model(next_ids [1, T'], document_states(model, states, n))``."""
    picked = []
    for block, state in zip(model.blocks, states, strict=True):
        if isinstance(state, PerDocument):
            if not 0 <= n < len(state):
                raise ValueError(f"document {n} is not among the {len(state)} documents")
            picked.append(state[n])
            continue
        dim = batch_dim(block.mixer)
        if not 0 <= n < batch_size(state, dim):
            raise ValueError(f"document {n} is not among the {batch_size(state, dim)} documents")
        picked.append(narrow(state, dim, n, 1))
    return picked
