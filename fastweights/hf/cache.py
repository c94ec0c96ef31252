"""``FWPCache``: a Hugging Face ``Cache`` that holds each block's state of an ``FWPModel``.

A block's state is what its mixer carries from call to call: the fast weights ``S [B, H, K, V]``
of a learning rule (with the short convolution's last inputs and a normaliser, where the mixer
has them), a cell's named tuple of fast weights, an LSTM's ``(h, c)``; so for every fast-weight
mixer the cache's memory is O(1) in the length (``nbytes``). Only the key/value mixers
(``softmax``, ``transformer``) hold a cache that grows with the length.

Rows of a left-padded prompt are run each as its own document (``FWPModel(x,
attention_mask=...)``), so every row's state is its own tokens' and pads are never read. States
of a fixed size are batched (batch dim 0, an LSTM's 1); key/value caches of rows of different
lengths cannot be, and a block then holds a ``PerDocument`` tuple of one-row states, each row
decoded alone (``decode``): exact, without pads.

``get_seq_length()`` counts the columns of ``input_ids`` consumed so far, pads included, which
is what ``generate`` slices the next inputs by. ``reorder_cache(beam_idx)`` picks rows (beam
search).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn
from transformers.cache_utils import Cache

from fastweights.models.generation import state_bytes
from fastweights.models.packing import PerDocument, batch_dim, document_states, tree_map

# transformers 5.x builds a Cache from its layers; 4.5x's Cache takes no arguments
_LAYERED = "layers" in inspect.signature(Cache.__init__).parameters


class FWPCache(Cache):
    """The per-block states of an ``FWPModel`` (``states``, None before the first call) and the
    number of columns they have read (``seen``)."""

    is_compileable = False

    def __init__(self) -> None:
        super().__init__(**({"layers": []} if _LAYERED else {}))
        self.states: list[Any] | None = None
        self.dims: list[int] = []  # each block's batch dim
        self.seen = 0

    def __repr__(self) -> str:
        blocks = "empty" if self.states is None else f"{len(self.states)} blocks"
        return f"FWPCache({blocks}, {self.seen} tokens, {self.nbytes()} bytes)"

    def __len__(self) -> int:
        return 0 if self.states is None else len(self.states)

    def update_states(self, model: nn.Module, states: list[Any], new_tokens: int) -> None:
        """Hold ``model``'s new ``states``, after ``new_tokens`` more columns."""
        self.states = states
        self.dims = [batch_dim(block.mixer) for block in model.blocks]
        self.seen += new_tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return -1  # no maximum length

    def get_mask_sizes(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        return self.seen, 0

    @property
    def is_croppable(self) -> bool:  # a fast weight cannot be rolled back to an earlier token
        return False

    @property
    def is_linear(self) -> list[bool]:
        return [True] * len(self)

    def nbytes(self) -> int:
        """The bytes of every state tensor held."""
        return state_bytes(self.states or [])

    def reorder_cache(self, beam_idx: Tensor) -> None:
        """Keep rows ``beam_idx`` (in that order), as beam search asks."""
        if self.states is None:
            return
        rows = beam_idx.tolist()
        picked = []
        for state, dim in zip(self.states, self.dims, strict=True):
            if isinstance(state, PerDocument):
                picked.append(PerDocument(state[i] for i in rows))
            else:
                index = beam_idx.to(_device(state))
                picked.append(tree_map(lambda t, d=dim, i=index: t.index_select(d, i), state))
        self.states = picked


def _device(state: Any) -> torch.device:
    found: list[torch.device] = []
    tree_map(lambda t: found.append(t.device) or t, state)
    return found[0] if found else torch.device("cpu")


def decode(model: nn.Module, x: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
    """``model(x [B, T], states)``; where a block's states are ``PerDocument``, every row runs
    alone and the new states are batched again where their shapes agree."""
    if not any(isinstance(s, PerDocument) for s in states):
        return model(x, states)
    runs = [model(x[n : n + 1], document_states(model, states, n)) for n in range(x.shape[0])]
    logits = torch.cat([logits for logits, _ in runs])  # [B, T, V]
    joined = [
        join([row_states[i] for _, row_states in runs], batch_dim(block.mixer))
        for i, block in enumerate(model.blocks)
    ]
    return logits, joined


def join(states: list[Any], dim: int) -> Any:
    """One-row states of a block -> batched along ``dim``, or ``PerDocument`` if shapes differ."""
    shapes: list[tuple[Any, ...]] = []
    for state in states:
        found: list[tuple[int, ...]] = []
        tree_map(lambda t, f=found: f.append((*t.shape[:dim], *t.shape[dim + 1 :])) or t, state)
        shapes.append(tuple(found))
    if all(s == shapes[0] for s in shapes):
        return tree_map(lambda *ts: torch.cat(ts, dim), *states)
    return PerDocument(states)
