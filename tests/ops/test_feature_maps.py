"""Feature maps: known answers, independent formulas, errors and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fastweights.ops.feature_maps import FEATURE_MAPS, apply_feature_map, feature_dim

ALL_MAPS = sorted(FEATURE_MAPS)


def _randn(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _dpfp_by_loops(x: torch.Tensor, nu: int) -> torch.Tensor:
    """Independent DPFP oracle on one vector: out[(i-1)·2d + j] = r_j · r_{(j-i) mod 2d}."""
    r = [max(v, 0.0) for v in x.tolist()] + [max(-v, 0.0) for v in x.tolist()]
    n = len(r)
    return torch.tensor(
        [r[j] * r[(j - i) % n] for i in range(1, nu + 1) for j in range(n)], dtype=x.dtype
    )


def test_registry_has_the_documented_maps() -> None:
    assert set(FEATURE_MAPS) == {"identity", "elu+1", "relu", "softmax", "dpfp", "l2", "sum"}


def test_dpfp_known_answer_nu1_and_nu2() -> None:
    x = torch.tensor([1.0, 2.0, -3.0])
    # r = [relu(x), relu(-x)] = [1, 2, 0, 0, 0, 3]
    # roll 1 = [3, 1, 2, 0, 0, 0] -> r * roll1 = [3, 2, 0, 0, 0, 0]
    # roll 2 = [0, 3, 1, 2, 0, 0] -> r * roll2 = [0, 6, 0, 0, 0, 0]
    nu1 = torch.tensor([3.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    nu2 = torch.cat([nu1, torch.tensor([0.0, 6.0, 0.0, 0.0, 0.0, 0.0])])
    torch.testing.assert_close(apply_feature_map("dpfp", x), nu1, rtol=0, atol=0)
    torch.testing.assert_close(apply_feature_map("dpfp", x, nu=2), nu2, rtol=0, atol=0)


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_dpfp_matches_loop_oracle_on_sequence_layout(nu: int) -> None:
    x = _randn(2, 3, 2, 4)  # [B, T, H, D]
    y = apply_feature_map("dpfp", x, nu=nu)
    assert y.shape == (2, 3, 2, 2 * nu * 4)
    expected = torch.stack([_dpfp_by_loops(row, nu) for row in x.reshape(-1, 4)])
    torch.testing.assert_close(y.reshape(-1, 2 * nu * 4), expected)


@pytest.mark.parametrize("name", ALL_MAPS)
def test_feature_dim_matches_output_and_dtype_is_kept(name: str) -> None:
    x = _randn(2, 5, 3, 6, dtype=torch.float32)
    y = apply_feature_map(name, x)
    assert y.shape == (*x.shape[:-1], feature_dim(name, 6))
    assert y.dtype == torch.float32


@pytest.mark.parametrize(("nu", "d"), [(1, 4), (2, 4), (3, 5)])
def test_feature_dim_of_dpfp(nu: int, d: int) -> None:
    assert feature_dim("dpfp", d, nu=nu) == 2 * nu * d


def test_elementwise_maps_known_values() -> None:
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.5], dtype=torch.float64)
    expected_elu1 = [math.exp(-2.0), math.exp(-1.0), 1.0, 2.0, 3.5]
    torch.testing.assert_close(apply_feature_map("elu+1", x), torch.tensor(expected_elu1).double())
    relu_x = torch.tensor([0.0, 0.0, 0.0, 1.0, 2.5], dtype=torch.float64)
    torch.testing.assert_close(apply_feature_map("relu", x), relu_x)
    torch.testing.assert_close(apply_feature_map("identity", x), x)


def test_elu_plus_one_is_positive() -> None:
    y = apply_feature_map("elu+1", 3.0 * _randn(1000))
    assert (y > 0).all()


def test_softmax_is_a_distribution() -> None:
    x = _randn(4, 7)
    y = apply_feature_map("softmax", x)
    assert (y > 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(4, dtype=torch.float64))
    manual = x.exp() / x.exp().sum(-1, keepdim=True)
    torch.testing.assert_close(y, manual)


def test_l2_gives_unit_norm_and_zero_stays_finite() -> None:
    x = _randn(4, 7)
    y = apply_feature_map("l2", x)
    torch.testing.assert_close(y.norm(dim=-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(y * x.norm(dim=-1, keepdim=True), x)  # same direction
    zero = apply_feature_map("l2", torch.zeros(3))
    assert torch.equal(zero, torch.zeros(3))


def test_sum_normalisation_sums_to_one_and_zero_stays_finite() -> None:
    x = F.relu(_randn(4, 7)) + 0.01
    y = apply_feature_map("sum", x)
    torch.testing.assert_close(y.sum(-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(y * x.sum(-1, keepdim=True), x)
    zero = apply_feature_map("sum", torch.zeros(3))
    assert torch.equal(zero, torch.zeros(3))


def test_unknown_name_is_a_value_error_listing_known_names() -> None:
    with pytest.raises(ValueError, match="'nope'") as info:
        apply_feature_map("nope", torch.zeros(3))
    assert all(name in str(info.value) for name in FEATURE_MAPS)
    with pytest.raises(ValueError, match="'nope'"):
        feature_dim("nope", 3)


@pytest.mark.parametrize("nu", [0, -1, 1.5, True, "2"])
def test_bad_nu_is_a_value_error(nu: object) -> None:
    with pytest.raises(ValueError, match="nu"):
        apply_feature_map("dpfp", torch.zeros(3), nu=nu)
    with pytest.raises(ValueError, match="nu"):
        feature_dim("dpfp", 3, nu=nu)


@pytest.mark.parametrize("d", [0, -2, 2.0])
def test_bad_d_is_a_value_error(d: object) -> None:
    with pytest.raises(ValueError, match="d must be"):
        feature_dim("relu", d)


@pytest.mark.parametrize("name", ALL_MAPS)
def test_integer_input_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        apply_feature_map(name, torch.arange(6).reshape(2, 3))


@pytest.mark.parametrize("name", ALL_MAPS)
def test_gradients_match_finite_differences(name: str) -> None:
    x = _randn(2, 3, 4, seed=1)
    if name == "sum":
        x = x.abs() + 0.1  # the map is meant for non-negative features with a positive sum
    x.requires_grad_(True)
    options = {"nu": 2} if name == "dpfp" else {}
    assert torch.autograd.gradcheck(lambda t: apply_feature_map(name, t, **options), (x,))
