"""Nodal traffic |W_ij x_j| by hand, and on recorded layers (its signed sum is the output)."""

from __future__ import annotations

import numpy as np
import pytest

from fastweights.analysis import record
from fastweights.analysis.traffic import layer_traffic, traffic


def test_traffic_by_hand():
    W = np.array([[1.0, -2.0], [0.0, 3.0]])[None, None]  # [T=1, H=1, V=2, K=2]
    x = np.array([2.0, 1.0])[None, None]
    result = traffic(W, x)
    np.testing.assert_allclose(result.edges[0, 0], [[2.0, 2.0], [0.0, 3.0]])
    np.testing.assert_allclose(result.sources[0, 0], [2.0, 5.0])  # out of input unit j (columns)
    np.testing.assert_allclose(result.targets[0, 0], [4.0, 3.0])  # into output unit i (rows)
    np.testing.assert_allclose(result.total, [[7.0]])


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same T, H, K"):
        traffic(np.zeros((2, 1, 3, 4)), np.zeros((2, 1, 3)))


@pytest.mark.parametrize("mixer", ["delta", "dpfp", "fwp1991", "delta_rnn"])
def test_recorded_traffic_carries_the_output(mixer, make_model, make_tokens):
    layer = record(make_model(mixer), make_tokens(1, 5), every=2).layers[1]
    result = layer_traffic(layer)
    T, H, V, K = layer.weights.shape
    assert result.edges.shape == (T, H, V, K) and result.targets.shape == (T, H, V)
    np.testing.assert_allclose(result.total, result.sources.sum(-1), rtol=1e-10)
    # o_t = W_t q_t: the signed traffic into each output unit is the layer's output (for the
    # Delta RNN the feed-forward part, which the output adds to the recurrent one)
    query = layer.inputs["x" if mixer == "fwp1991" else "q"]
    signed = np.einsum("thvk,thk->thv", layer.weights, query)
    if mixer != "delta_rnn":
        np.testing.assert_allclose(signed, layer.output, atol=1e-5)
    assert np.all(result.targets >= np.abs(signed) - 1e-6)  # triangle inequality


def test_layers_without_a_readable_matrix(make_model, make_tokens):
    x = make_tokens(1, 4)
    with pytest.raises(ValueError, match="no fast weights"):
        layer_traffic(record(make_model("softmax"), x).layers[0])
    with pytest.raises(ValueError, match="traffic is defined for"):
        layer_traffic(record(make_model("rdn"), x).layers[0])


def test_the_srwm_routes_step_t_through_the_weights_before_its_write(make_model, make_tokens):
    layer = record(make_model("srwm"), make_tokens(1, 5), every=1).layers[1]
    result = layer_traffic(layer)
    assert np.isnan(result.edges[0]).all()  # W_(-1), the initial matrix, is not recorded
    n_y = layer.output.shape[-1]
    signed = np.einsum("thvk,thk->thv", layer.weights[:-1, :, :n_y], layer.inputs["x"][1:])
    np.testing.assert_allclose(signed, layer.output[1:], atol=1e-5)  # y_t = W_y(t-1) x_t
    with pytest.raises(ValueError, match="record every step"):
        layer_traffic(record(make_model("srwm"), make_tokens(1, 5), every=2).layers[1])
