"""The chunkwise kernels (``impl="triton_chunk"`` of ``delta``, ``gated_delta``) against the oracle.

Outputs, final state and every gradient (initial state included) within the data-derived budget
(``error_budget``), at ``T`` not a multiple of the chunk (a padded last chunk), ``K = 12`` (masked
key lanes), with per-head and per-channel rates, a strong decay, and in float16 (bfloat16 on a
GPU only: its arithmetic is wrong under the interpreter).
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from fastweights.ops import RULES

NAMES = ("delta", "gated_delta")


def _misses(kernel_device, make_inputs, budget, real, name, dtype, *, C=16, seed=0, **options):
    size = {"B": 2, "T": 1000, "H": 4, "K": 128, "V": 128} if real else {}
    shape = {"B": 1, "T": 37, "H": 2, "K": 12, "V": 20} | options | size
    gate = shape.pop("gate", None)
    inputs = {n: x.to(kernel_device) for n, x in make_inputs(name, **shape, seed=seed).items()}
    if gate is not None:
        inputs["g"] = torch.full_like(inputs["g"], gate)
    rule = RULES[name]
    return budget.misses(
        partial(rule, impl="triton_chunk", chunk_size=64 if real else C),
        partial(rule, impl="recurrent"), inputs, dtype, seed=seed,
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_float32_within_budget(kernel_device, make_inputs, budget, real_shapes, name) -> None:
    assert not _misses(kernel_device, make_inputs, budget, real_shapes, name, torch.float32, seed=1)


@pytest.mark.parametrize("name", NAMES)
def test_half_precision_within_budget(kernel_device, make_inputs, budget, real_shapes, name):
    dtypes = [torch.float16] + ([torch.bfloat16] if kernel_device == "cuda" else [])
    for dtype in dtypes:
        assert not _misses(kernel_device, make_inputs, budget, real_shapes, name, dtype, seed=2)


def test_strong_decay_within_budget(kernel_device, make_inputs, budget, real_shapes) -> None:
    # g = −3: the cumulative gate reaches −48 in a chunk of 16 (−192 in 64): exp underflows
    assert not _misses(
        kernel_device, make_inputs, budget, real_shapes, "gated_delta", torch.float32, gate=-3.0,
        seed=3,
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_per_channel_rates_within_budget(kernel_device, make_inputs, budget, name) -> None:
    # each value channel becomes a head of its own with V = 1
    assert not _misses(
        kernel_device, make_inputs, budget, False, name, torch.float32, T=17, V=2,
        per_channel=True, seed=4,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("C", [32, 64])
def test_other_chunk_sizes_and_value_blocks(kernel_device, make_inputs, budget, C) -> None:
    # V = 72: two value blocks of 64 in the state and output kernels, a loop of two in intra
    assert not _misses(
        kernel_device, make_inputs, budget, False, "gated_delta", torch.float32, C=C, T=C + 5,
        V=72, seed=5,
    )  # fmt: skip
