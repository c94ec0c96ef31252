"""The chunk forms of the delta rules keep chunk states for backward, not one state per token.

Bytes saved for backward are counted with ``torch.autograd.graph.saved_tensors_hooks`` (each
storage once, so views of one buffer are not counted twice). One fast-weight state per token
would be ``T·H·K·V·4`` bytes; the recurrent form saves more than that, the chunk form far less.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES

B, T, H, K, V, C = 1, 512, 2, 32, 32, 16
PER_TOKEN_STATES = T * H * K * V * 4  # float32 bytes of one [H, K, V] state per token


def _inputs(name: str) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = {
        "q": torch.randn(B, T, H, K, generator=gen),
        "k": torch.nn.functional.normalize(torch.randn(B, T, H, K, generator=gen), dim=-1),
        "v": torch.randn(B, T, H, V, generator=gen),
        "beta": torch.rand(B, T, H, generator=gen),
        "initial_state": torch.randn(B, H, K, V, generator=gen),
    }
    x.update({gate: -torch.rand(B, T, H, generator=gen) for gate in RULES[name].gates})
    return {n: t.requires_grad_() for n, t in x.items()}


def _saved_bytes(name: str, form: str, inputs: dict[str, Tensor]) -> int:
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = RULES[name](**inputs, impl=form, chunk_size=C)
    assert out.o.requires_grad  # something was recorded for backward
    return sum(storages.values())


@pytest.mark.parametrize("name", ["delta", "gated_delta"])
def test_chunk_form_saves_no_state_per_token(name) -> None:
    inputs = _inputs(name)
    input_bytes = sum(t.numel() * t.element_size() for t in inputs.values())
    chunk = _saved_bytes(name, "chunk", inputs)
    recurrent = _saved_bytes(name, "recurrent", inputs)
    assert chunk >= input_bytes, f"chunk form saved {chunk} B, less than its inputs {input_bytes} B"
    assert chunk < PER_TOKEN_STATES / 4, (
        f"chunk form saved {chunk} B; one state per token is {PER_TOKEN_STATES} B"
    )
    # the measure discriminates: the scan keeps (at least) one state per token
    assert recurrent > PER_TOKEN_STATES, f"recurrent form saved only {recurrent} B"
