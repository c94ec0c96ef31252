"""The measures against hand-computed cases, and on a recorded delta-rule layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastweights.analysis import record
from fastweights.analysis.measures import (
    cumulative_correction,
    delta_correction,
    effective_rank,
    frobenius_norm,
    layer_measures,
    reads,
    retrieval_error,
    stable_rank,
    update_norm,
    write_strength,
)


def test_frobenius_and_update_norm():
    W = np.array([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]], [[4.0, 0.0], [0.0, -2.0]]])
    np.testing.assert_allclose(frobenius_norm(np.array([[3.0, 4.0], [0.0, 0.0]])), 5.0)
    np.testing.assert_allclose(frobenius_norm(W), [1.0, math.sqrt(5), math.sqrt(20)])
    # from zeros: 1; then the (1, 1) entry +2: 2; then 3 at (0, 0) and −4 at (1, 1): 5
    np.testing.assert_allclose(update_norm(W), [1.0, 2.0, 5.0])
    np.testing.assert_allclose(update_norm(W, initial=np.eye(2))[0], 1.0)
    np.testing.assert_allclose(update_norm(torch.tensor(W)), [1.0, 2.0, 5.0])  # tensors work too


def test_ranks():
    # σ = (3, 1): p = (3/4, 1/4), entropy = −(3/4 ln 3/4 + 1/4 ln 1/4)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    W = np.stack([np.eye(2), np.diag([1.0, 0.0]), np.diag([3.0, 1.0]), np.zeros((2, 2))])
    np.testing.assert_allclose(effective_rank(W), [2.0, 1.0, math.exp(entropy), 0.0])
    np.testing.assert_allclose(stable_rank(W), [2.0, 1.0, 10 / 9, 0.0])
    rotated = np.array([[0.0, -3.0], [1.0, 0.0]])  # the same σ in another basis: the same ranks
    np.testing.assert_allclose(effective_rank(rotated), math.exp(entropy))
    np.testing.assert_allclose(stable_rank(np.ones((3, 4))), 1.0)  # rank one


def test_write_strength():
    beta = np.array([[[0.2, 0.4], [1.0, 0.0]]])  # [T=1, H=2, V=2]
    np.testing.assert_allclose(write_strength(beta), [[0.3, 0.5]])
    np.testing.assert_array_equal(write_strength(beta[..., 0]), beta[..., 0])
    with pytest.raises(ValueError, match="beta"):
        write_strength(np.zeros(3))


def test_delta_correction_by_hand():
    # one head, K = V = 2; step 0 writes v = (1, 2) at k = e1 (β = 1): W_0 = [[1, 0], [2, 0]];
    # step 1 asks again at e1 for v = (1, 3): it reads (1, 2), the correction is (0, 1)
    e1 = np.array([1.0, 0.0])
    W = np.array([[[[1.0, 0.0], [2.0, 0.0]]], [[[1.0, 0.0], [3.0, 0.0]]]])  # [T=2, H=1, V, K]
    k = np.stack([e1, e1])[:, None]
    v = np.array([[1.0, 2.0], [1.0, 3.0]])[:, None]
    np.testing.assert_allclose(reads(W, k), [[[0.0, 0.0]], [[1.0, 2.0]]])
    correction = delta_correction(W, k, v)
    np.testing.assert_allclose(correction, [[math.sqrt(5)], [1.0]])
    np.testing.assert_allclose(
        cumulative_correction(correction), [[math.sqrt(5)], [math.sqrt(5) + 1]]
    )


def test_retrieval_error():
    W = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # V = 3, K = 2
    keys = np.eye(2)
    values = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(retrieval_error(W, keys, values), [0.0, 2.0])
    np.testing.assert_allclose(retrieval_error(np.stack([W, 0 * W]), keys, values),
                               [[0.0, 2.0], [math.sqrt(5), 3.0]])  # fmt: skip
    with pytest.raises(ValueError, match="keys need K=2"):
        retrieval_error(W, np.eye(3)[:2], values)


def test_shape_errors():
    with pytest.raises(ValueError, match="at least 2-D"):
        frobenius_norm(np.zeros(3))
    with pytest.raises(ValueError, match="time at dim 0"):
        update_norm(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same T, H, K"):
        reads(np.zeros((2, 1, 3, 2)), np.zeros((2, 1, 3)))
    with pytest.raises(TypeError, match="array of numbers"):
        frobenius_norm("abc")


def test_on_a_recorded_delta_layer(make_model, make_tokens):
    layer = record(make_model("delta"), make_tokens(1, 7)).layers[0]
    measures = layer_measures(layer)
    names = ("frobenius_norm", "update_norm", "effective_rank", "stable_rank", "write_strength")
    assert set(measures) == {*names, "delta_correction", "cumulative_correction"}
    assert all(m.shape == (7, 2) for m in measures.values())
    # the delta rule writes β (v − v̄) kᵀ with ‖k‖ = 1: its update norm is β times the correction
    written = layer.inputs["beta"] * measures["delta_correction"]
    np.testing.assert_allclose(measures["update_norm"], written, rtol=1e-4)
    assert np.all(measures["effective_rank"] <= 4 + 1e-6)
    # a first write is rank one
    np.testing.assert_allclose(measures["stable_rank"][0], 1.0, rtol=1e-5)


def test_layer_measures_of_other_kinds(make_model, make_tokens):
    x = make_tokens(1, 5)
    assert layer_measures(record(make_model("softmax"), x).layers[0]) == {}
    sparse = layer_measures(record(make_model("delta"), x, every=2).layers[0])
    assert "delta_correction" not in sparse and sparse["frobenius_norm"].shape == (3, 2)
    cell = layer_measures(record(make_model("srwm"), x).layers[0])
    assert np.isnan(cell["update_norm"][0]).all() and np.isfinite(cell["update_norm"][1:]).all()
