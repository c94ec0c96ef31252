"""FLOP formulas of the ops benchmark against counts worked out by hand."""

import pytest

from fastweights.bench import flops

# C=2, K=3, V=5: K ≠ V, so a swapped K and V changes every count below.
# delta fwd: 6·4·3 + 4·4·5 + 6·2·15 + inv(2) = 72 + 80 + 180 + 0
DELTA_FWD_SMALL = 332
# delta bwd: 18·4·3 + 10·4·5 + 12·2·15 + inv(2) = 216 + 200 + 360 + 0
DELTA_BWD_SMALL = 776
# sum fwd: 4·2·15 + 2·4·8 = 120 + 64
SUM_FWD_SMALL = 184


def test_delta_chunk_counts_small() -> None:
    assert flops.delta_chunk_fwd(2, 3, 5) == DELTA_FWD_SMALL
    assert flops.delta_chunk_bwd(2, 3, 5) == DELTA_BWD_SMALL


def test_delta_chunk_counts_at_c_k_v_64() -> None:
    # inv(16) = 3 doublings of 2·2·16³; inv(64) = 4·inv(16) + Σ_{i=1..3} 2·16·(16i)² + 2·16²·16i
    assert flops.unit_lower_inverse_flops(16) == 49_152
    assert (
        flops.unit_lower_inverse_flops(64) == 4 * 49_152 + 2 * 16**3 * (1 + 4 + 9) + 2 * 16**3 * 6
    )
    assert flops.unit_lower_inverse_flops(64) == 360_448
    # 20 pads to two blocks of 16: 2·inv(16) + 2·16·16² + 2·16²·16
    assert flops.unit_lower_inverse_flops(20) == 2 * 49_152 + 4 * 16**3
    # fwd: (6 + 4 + 6)·64³ + inv(64); bwd: (18 + 10 + 12)·64³ + inv(64)
    assert flops.delta_chunk_fwd(64, 64, 64) == 4_554_752
    assert flops.delta_chunk_bwd(64, 64, 64) == 10_846_208


def test_sum_chunk_counts() -> None:
    assert flops.sum_chunk_fwd(2, 3, 5) == SUM_FWD_SMALL
    # sum bwd: 6·4·3 + 4·4·5 + 8·2·15 = 72 + 80 + 240
    assert flops.sum_chunk_bwd(2, 3, 5) == 392


def test_recurrent_counts_per_token_per_head() -> None:
    assert flops.recurrent_fwd("sum", 3, 5) == 60
    for rule in ("delta", "gated_delta", "oja"):
        assert flops.recurrent_fwd(rule, 3, 5) == 90
        assert flops.recurrent_bwd(rule, 3, 5) == 180


def test_sdpa_counts_per_head() -> None:
    assert flops.sdpa_fwd(4, 3, 5) == 128  # 16 · 8: the causal half of QKᵀ and PV
    assert flops.sdpa_bwd(4, 3, 5) == 320  # 2.5 × 128


def test_op_flops_chunk_counts_a_partial_chunk_as_whole() -> None:
    # T=5, C=2: 3 chunks; B·H = 6
    assert flops.op_flops("delta", "chunk", "fwd", 2, 5, 3, 3, 5, 2) == 6 * 3 * DELTA_FWD_SMALL
    total = 6 * 3 * (DELTA_FWD_SMALL + DELTA_BWD_SMALL)
    assert flops.op_flops("gated_delta", "chunk", "fwdbwd", 2, 5, 3, 3, 5, 2) == total
    assert flops.op_flops("sum", "chunk", "fwdbwd", 1, 4, 1, 3, 5, 2) == 2 * (SUM_FWD_SMALL + 392)


def test_op_flops_recurrent_and_sdpa_totals() -> None:
    # B·T·H = 2·7·3 = 42 token-heads, 90 + 180 FLOPs each; the chunk size does not matter
    assert flops.op_flops("delta", "recurrent", "fwdbwd", 2, 7, 3, 3, 5, 64) == 42 * 270
    assert flops.op_flops("sdpa", "torch", "fwdbwd", 1, 4, 2, 3, 5, 1) == 2 * (128 + 320)


def test_op_flops_without_formula_is_none_and_bad_mode_raises() -> None:
    assert flops.op_flops("oja", "chunk", "fwd", 1, 4, 1, 3, 5, 2) is None
    assert flops.op_flops("delta", "mystery", "fwd", 1, 4, 1, 3, 5, 2) is None
    with pytest.raises(ValueError, match="mode"):
        flops.op_flops("delta", "chunk", "backward", 1, 4, 1, 3, 5, 2)


def test_bmm_flops() -> None:
    assert flops.bmm_flops(2048, 64) == 1_073_741_824  # 2 · 2048 · 64³


@pytest.mark.parametrize(
    ("rule", "T", "C", "K", "V"),
    [("delta", 130, 64, 8, 5), ("gated_delta", 45, 20, 6, 4), ("sum", 70, 16, 6, 4)],
)
def test_chunk_counts_equal_the_executed_products(rule, T, C, K, V) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fastweights.ops import RULES

    B, H = 2, 3
    q, k = torch.randn(B, T, H, K, requires_grad=True), torch.randn(B, T, H, K, requires_grad=True)
    v, beta = torch.randn(B, T, H, V, requires_grad=True), torch.rand(B, T, H, requires_grad=True)
    gates = {"g": -torch.rand(B, T, H, requires_grad=True)} if rule == "gated_delta" else {}
    with FlopCounterMode(display=False) as forward:
        o, S = RULES[rule](q, k, v, beta, impl="chunk", chunk_size=C, **gates)
    with FlopCounterMode(display=False) as backward:
        (o.sum() + S.sum()).backward()
    assert forward.get_total_flops() == flops.op_flops(rule, "chunk", "fwd", B, T, H, K, V, C)
    total = forward.get_total_flops() + backward.get_total_flops()
    assert total == flops.op_flops(rule, "chunk", "fwdbwd", B, T, H, K, V, C)
