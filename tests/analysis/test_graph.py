"""The graph view: edges with filters, rewiring events, chained layers and strongest paths."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fastweights.analysis import record
from fastweights.analysis.graph import (
    Rewiring,
    chain,
    fast_net_graph,
    layer_graph,
    rewiring,
    strongest_paths,
)

nx = pytest.importorskip("networkx", reason="needs networkx: pip install fastweights[graph]")


def test_graph_of_a_matrix():
    W = np.array([[0.5, -2.0], [0.0, 1.0]])  # V = 2 outputs, K = 2 inputs
    graph = fast_net_graph(W)
    assert set(graph.edges) == {("k0", "v0"), ("k1", "v0"), ("k1", "v1")}  # zeros are no edges
    assert graph.edges["k1", "v0"]["weight"] == -2.0 and graph.edges["k1", "v0"]["strength"] == 2.0
    assert graph.nodes["k1"] == {"side": "in", "unit": 1} and nx.is_bipartite(graph)
    assert set(fast_net_graph(W, threshold=0.6).edges) == {("k1", "v0"), ("k1", "v1")}
    assert set(fast_net_graph(W, top_k=1).edges) == {("k1", "v0")}
    named = fast_net_graph(W, inputs=["a", "b"], outputs=["y", "z"])
    assert ("b", "y") in named.edges
    with pytest.raises(ValueError, match="one matrix"):
        fast_net_graph(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="threshold"):
        fast_net_graph(W, threshold=-1)
    with pytest.raises(ValueError, match="distinct"):
        fast_net_graph(W, inputs=["a", "b"], outputs=["a", "z"])


def test_rewiring_events():
    W = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0]],
            [[1.0, 0.5], [0.0, -1.0]],  # k1 → v0 appears; k1 → v1 flips sign
            [[0.05, 0.5], [0.0, -1.0]],  # k0 → v0 falls under the threshold
        ]
    )
    events = rewiring(W, steps=[0, 4, 8], threshold=0.1)
    assert events == [
        Rewiring(4, "k1", "v0", "appear", 0.0, 0.5),
        Rewiring(4, "k1", "v1", "sign", 1.0, -1.0),
        Rewiring(8, "k0", "v0", "vanish", 1.0, 0.05),
    ]
    assert rewiring(W[:1]) == []
    with pytest.raises(ValueError, match="label"):
        rewiring(W, steps=[0, 1])


def test_chain_and_strongest_paths():
    first = fast_net_graph(np.array([[0.9, 0.1], [0.2, 0.8]]))
    second = fast_net_graph(np.array([[0.5, 1.0]]))
    deep = chain([first, second])  # output unit i of the first is input unit i of the second
    assert deep.has_edge("0:v1", "1:k1") and deep.nodes["1:v0"]["layer"] == 1
    paths = strongest_paths(deep, "0:k0", "1:v0", k=2)
    assert [p for p, _ in paths] == [
        ["0:k0", "0:v0", "1:k0", "1:v0"],  # 0.9 · 1 · 0.5 = 0.45
        ["0:k0", "0:v1", "1:k1", "1:v0"],  # 0.2 · 1 · 1.0 = 0.2
    ]
    np.testing.assert_allclose([s for _, s in paths], [0.45, 0.2])
    best, strength = strongest_paths(deep, "0:k1", "1:v0")[0]
    assert best[1] == "0:v1" and strength == pytest.approx(0.8)
    # an explicit link: output 0 feeds input 1 with weight 2 and nothing else
    crossed = chain([first, second], links=[np.array([[0.0, 0.0], [2.0, 0.0]])])
    assert set(crossed.successors("0:v0")) == {"1:k1"} and crossed.out_degree("0:v1") == 0
    assert strongest_paths(crossed, "0:k1", "1:v0")[0][1] == pytest.approx(0.1 * 2 * 1.0)
    assert strongest_paths(fast_net_graph(np.eye(2)), "k0", "v1") == []
    with pytest.raises(ValueError, match="identity link"):
        chain([second, first])
    with pytest.raises(ValueError, match="no node"):
        strongest_paths(deep, "k0", "1:v0")


def test_layer_graph_of_a_recording(make_model, make_tokens):
    layer = record(make_model("delta"), make_tokens(1, 5), every=2).layers[0]
    graph = layer_graph(layer, index=-1, head=1, top_k=5)
    assert graph.number_of_edges() == 5 and graph.graph == {"step": 4, "head": 1, "layer": 0}
    weights = [d["weight"] for _, _, d in graph.edges(data=True)]
    top = np.sort(np.abs(layer.weights[-1, 1]).ravel())[-5:]
    np.testing.assert_allclose(sorted(np.abs(weights)), top)
    with pytest.raises(ValueError, match="head"):
        layer_graph(layer, head=2)


def test_missing_networkx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # import networkx now fails
    with pytest.raises(ImportError, match=r"fastweights\[graph\]"):
        fast_net_graph(np.eye(2))
