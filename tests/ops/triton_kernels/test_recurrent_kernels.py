"""The fused recurrent kernels (``impl="triton_recurrent"``) against the float64 oracle.

Outputs, final state and the gradients of every input (initial state included) stay within the
data-derived budget (``error_budget``): float32 and float16 on the interpreter, bfloat16 too on
a GPU. ``K = 12`` is not a power of two (masked key lanes) and ``V = 40`` spans two value
blocks (the per-block partial sums of ``∂q, ∂k, ∂β, ∂g``). The interpreter is slow: tiny shapes.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from fastweights.ops import RULES

RULE_NAMES = ("sum", "delta", "gated_delta")


def _inputs(make_inputs, name, device, real, **options):
    size = {"B": 2, "T": 1000, "H": 4, "K": 128, "V": 128} if real else {}
    inputs = make_inputs(name, **({"B": 1, "T": 12, "H": 2, "K": 12, "V": 40} | options | size))
    return {n: x.to(device) for n, x in inputs.items()}


@pytest.mark.parametrize("per_channel", [False, True], ids=["beta", "vbeta"])
@pytest.mark.parametrize("name", RULE_NAMES)
def test_float32_within_budget(
    kernel_device, make_inputs, budget, real_shapes, name, per_channel
) -> None:
    # per-channel rates: every value channel its own rule; one value block is enough
    V = 8 if per_channel else 40
    inputs = _inputs(make_inputs, name, kernel_device, real_shapes, V=V, per_channel=per_channel)
    rule = RULES[name]
    assert not budget.misses(
        partial(rule, impl="triton_recurrent"), partial(rule, impl="recurrent"), inputs,
        torch.float32, seed=1,
    )  # fmt: skip


@pytest.mark.parametrize("name", RULE_NAMES)
def test_half_precision_within_budget(kernel_device, make_inputs, budget, real_shapes, name):
    dtypes = [torch.float16] + ([torch.bfloat16] if kernel_device == "cuda" else [])
    inputs = _inputs(make_inputs, name, kernel_device, real_shapes, K=16, V=16)
    rule = RULES[name]
    for dtype in dtypes:  # bf16 arithmetic is wrong under the interpreter (a Triton bug)
        assert not budget.misses(
            partial(rule, impl="triton_recurrent"), partial(rule, impl="recurrent"), inputs,
            dtype, seed=2,
        )  # fmt: skip


def test_sum_rule_has_the_recurrent_kernel_alone() -> None:
    # the sum rule has no chunk kernel, and no name stands in for one
    assert set(RULES["sum"].kernels) == {"triton_recurrent"}
