"""The fast net as a graph: its connections at a step, its rewiring over time, its strongest paths.

At step t a fast weight matrix ``W [V, K]`` (papers' orientation, ``o = W q``) is a weighted,
directed, bipartite graph: input units ``k0 .. k{K−1}`` → output units ``v0 .. v{V−1}``, edge
``k_j → v_i`` with weight ``W_ij``. A threshold on ``|w|`` or the ``top_k`` strongest edges keep
the graph readable. Between steps the graph *rewires* (``rewiring``): an edge appears (its
``|w|`` rises to the threshold), vanishes (falls below it) or flips sign. Graphs chain into a
deep fast net or across layers (``chain``; e.g. the Delta MLP's two fast layers, or layer l's
outputs feeding layer l+1 through a given link matrix), and ``strongest_paths`` finds the input →
output paths with the largest product of ``|w|``: shortest paths under the cost ``−log(|w| /
max|w|)`` (non-negative, so Dijkstra/Yen apply; in a layered chain every path has the same number
of edges, so the normalisation does not change the ranking).

networkx comes with the ``graph`` extra (``pip install fastweights[graph]``), imported on use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from fastweights.analysis.measures import as_array
from fastweights.analysis.recording import LayerRecording

if TYPE_CHECKING:
    import networkx as nx


def networkx_module() -> Any:
    """networkx, imported on first use (the ``graph`` extra), or a clear ``ImportError``."""
    try:
        import networkx
    except ImportError as error:
        raise ImportError(
            "the graph view needs networkx: pip install fastweights[graph]"
        ) from error
    return networkx


def _check_filter(threshold: float, top_k: int | None) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}")


def fast_net_graph(
    W: Any,
    *,
    threshold: float = 0.0,
    top_k: int | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> nx.DiGraph:
    """``W [V, K]`` -> a ``networkx.DiGraph`` from input units to output units.

    Keeps the edges with ``|w| >= threshold`` (and ``|w| > 0``), then the ``top_k`` strongest.
    Nodes carry ``side`` (``"in"``/``"out"``) and ``unit`` (the index); edges ``weight`` and
    ``strength = |weight|``. ``inputs``/``outputs`` name the units (default ``k{j}``/``v{i}``).
    """
    nx = networkx_module()
    W = as_array(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W must be one matrix [V, K], got shape {list(W.shape)}")
    _check_filter(threshold, top_k)
    V, K = W.shape
    inputs = [f"k{j}" for j in range(K)] if inputs is None else list(inputs)
    outputs = [f"v{i}" for i in range(V)] if outputs is None else list(outputs)
    if len(inputs) != K or len(outputs) != V or set(inputs) & set(outputs):
        raise ValueError(
            f"need {K} input and {V} output names, all distinct; got {len(inputs)} and "
            f"{len(outputs)}"
        )
    graph = nx.DiGraph()
    graph.add_nodes_from((name, {"side": "in", "unit": j}) for j, name in enumerate(inputs))
    graph.add_nodes_from((name, {"side": "out", "unit": i}) for i, name in enumerate(outputs))
    rows, cols = np.nonzero((np.abs(W) >= threshold) & (W != 0))
    order = np.argsort(-np.abs(W[rows, cols]), kind="stable")
    if top_k is not None:
        order = order[:top_k]
    graph.add_edges_from(
        (inputs[cols[e]], outputs[rows[e]], {"weight": float(W[rows[e], cols[e]]),
                                              "strength": float(abs(W[rows[e], cols[e]]))})
        for e in order
    )  # fmt: skip
    return graph


@dataclass(frozen=True)
class Rewiring:
    """One change of the fast net between two kept steps."""

    step: int  # the later step
    source: str
    target: str
    kind: str  # "appear", "vanish" or "sign"
    before: float
    after: float


def rewiring(
    weights: Any,
    steps: Sequence[int] | None = None,
    *,
    threshold: float = 0.0,
    top_k: int | None = None,
) -> list[Rewiring]:
    """The edges that appear, vanish or flip sign from each kept step to the next.

    ``weights [T, V, K]`` (one head); ``steps`` labels the kept steps (default ``0 .. T−1``).
    The graph at each step is ``fast_net_graph(W_t, threshold=..., top_k=...)``.
    """
    weights = as_array(weights, "weights")
    if weights.ndim != 3:
        raise ValueError(f"weights must be [T, V, K] (one head), got shape {list(weights.shape)}")
    steps = list(range(len(weights))) if steps is None else [int(s) for s in steps]
    if len(steps) != len(weights):
        raise ValueError(f"steps must label the {len(weights)} matrices, got {len(steps)}")
    events: list[Rewiring] = []
    graphs = [fast_net_graph(W, threshold=threshold, top_k=top_k) for W in weights]
    for t in range(1, len(graphs)):
        old, new = graphs[t - 1], graphs[t]
        for u, v in sorted(set(new.edges) - set(old.edges)):
            events.append(Rewiring(steps[t], u, v, "appear", value(weights[t - 1], u, v),
                                   new.edges[u, v]["weight"]))  # fmt: skip
        for u, v in sorted(set(old.edges) - set(new.edges)):
            events.append(Rewiring(steps[t], u, v, "vanish", old.edges[u, v]["weight"],
                                   value(weights[t], u, v)))  # fmt: skip
        for u, v in sorted(set(old.edges) & set(new.edges)):
            before, after = old.edges[u, v]["weight"], new.edges[u, v]["weight"]
            if before * after < 0:
                events.append(Rewiring(steps[t], u, v, "sign", before, after))
    return events


def value(W: np.ndarray, u: str, v: str) -> float:
    """``W[i, j]`` for the edge ``k{j} → v{i}`` (the default unit names)."""
    return float(W[int(v[1:]), int(u[1:])])


def chain(graphs: Sequence[nx.DiGraph], links: Sequence[Any | None] | None = None) -> nx.DiGraph:
    """Stack fast-net graphs into one layered graph; nodes are renamed ``"{l}:{name}"``.

    Between graph ``l`` and ``l+1``, ``links[l]`` is ``None`` (output unit i of ``l`` *is* input
    unit i of ``l+1``: an edge of weight 1, as in a deep fast net) or a matrix ``M [K_{l+1},
    V_l]`` (an edge ``out_i → in_j`` of weight ``M[j, i]`` where nonzero).
    """
    nx = networkx_module()
    if not graphs:
        raise ValueError("chain needs at least one graph")
    links = [None] * (len(graphs) - 1) if links is None else list(links)
    if len(links) != len(graphs) - 1:
        raise ValueError(f"{len(graphs)} graphs need {len(graphs) - 1} links, got {len(links)}")
    out = nx.DiGraph()
    for l, graph in enumerate(graphs):
        out.update(nx.relabel_nodes(graph, {n: f"{l}:{n}" for n in graph}))
        for n in graph:
            out.nodes[f"{l}:{n}"]["layer"] = l
    for l, link in enumerate(links):
        sources = _side(graphs[l], "out")
        targets = _side(graphs[l + 1], "in")
        if link is None:
            if len(sources) != len(targets):
                raise ValueError(f"an identity link needs {len(sources)} outputs of graph {l} "
                                 f"= {len(targets)} inputs of graph {l + 1}")  # fmt: skip
            M = np.eye(len(targets))
        else:
            M = as_array(link, f"links[{l}]")
            if M.shape != (len(targets), len(sources)):
                raise ValueError(f"links[{l}] must be [{len(targets)}, {len(sources)}], "
                                 f"got {list(M.shape)}")  # fmt: skip
        for j, i in zip(*np.nonzero(M), strict=True):
            w = float(M[j, i])
            out.add_edge(f"{l}:{sources[i]}", f"{l + 1}:{targets[j]}", weight=w, strength=abs(w))
    return out


def _side(graph: nx.DiGraph, side: str) -> list[str]:
    nodes = [(data["unit"], n) for n, data in graph.nodes(data=True) if data.get("side") == side]
    return [n for _, n in sorted(nodes)]


def strongest_paths(
    graph: nx.DiGraph, source: str, target: str, k: int = 1
) -> list[tuple[list[str], float]]:
    """The ``k`` paths from ``source`` to ``target`` with the largest product of ``|w|``.

    Returns ``[(nodes, strength)]``, strongest first (empty if no path). Uses networkx's
    ``shortest_simple_paths`` (Yen) on the cost ``−log(|w| / max|w|)``.
    """
    nx = networkx_module()
    for node in (source, target):
        if node not in graph:
            raise ValueError(f"no node {node!r} in the graph")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    strength = {(u, v): abs(d.get("strength", d.get("weight", 1.0)))
                for u, v, d in graph.edges(data=True)}  # fmt: skip
    if not strength or not nx.has_path(graph, source, target):
        return []
    top = max(strength.values())
    cost = {edge: -math.log(s / top) if s > 0 else math.inf for edge, s in strength.items()}
    nx.set_edge_attributes(graph, cost, "_cost")
    try:
        paths = list(islice(nx.shortest_simple_paths(graph, source, target, weight="_cost"), k))
    finally:
        for _, _, data in graph.edges(data=True):
            data.pop("_cost", None)
    return [(path, math.prod(strength[edge] for edge in pairwise(path))) for path in paths]


def layer_graph(
    layer: LayerRecording,
    index: int = -1,
    head: int = 0,
    *,
    threshold: float = 0.0,
    top_k: int | None = None,
) -> nx.DiGraph:
    """The fast net of a recorded layer at its kept step ``index``, head ``head`` (a position in
    ``layer.heads``); the graph's ``step`` attribute is the time step."""
    if layer.weights is None:
        raise ValueError(f"layer {layer.layer} ({layer.mixer}) has no fast weights")
    T, H = layer.weights.shape[:2]
    if not -T <= index < T or not 0 <= head < H:
        raise ValueError(f"index must be in -{T}..{T - 1} and head in 0..{H - 1}, "
                         f"got {index} and {head}")  # fmt: skip
    graph = fast_net_graph(layer.weights[index, head], threshold=threshold, top_k=top_k)
    graph.graph.update(step=int(layer.steps[index]), head=layer.heads[head], layer=layer.layer)
    return graph
