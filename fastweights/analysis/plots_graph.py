"""The graph view of the fast net, drawn with networkx on matplotlib, rewired edges highlighted.

At each shown step the fast weight matrix ``W_t [V, K]`` is drawn as a bipartite graph (input
units ``k_j`` on the left, output units ``v_i`` on the right, ``fastweights.analysis.graph.
fast_net_graph``), keeping its ``top_k`` strongest edges: red for positive weights, blue for
negative, width ∝ ``|w|``. The rewiring since the previous kept step (``graph.rewiring``) is
marked: edges that appeared or flipped sign under an orange halo, edges that vanished dotted grey.
networkx comes with the ``graph`` extra, matplotlib with ``plots``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastweights.analysis.graph import fast_net_graph, networkx_module, rewiring
from fastweights.analysis.plots_base import (
    head_position,
    new_figure,
    pick_layer,
    pick_steps,
    step_labels,
)
from fastweights.analysis.recording import Recording

NEW = "#ff9f1c"  # halo of edges that appeared or flipped sign
GONE = "#9a9a9a"  # edges that vanished
LABELLED = 16  # node names are drawn up to this many units per side


def _positions(K: int, V: int) -> dict[str, tuple[float, float]]:
    """Inputs on the left, outputs on the right, unit 0 on top, both sides spread over [0, 1]."""
    pos = {f"k{j}": (0.0, 1 - j / max(K - 1, 1)) for j in range(K)}
    pos |= {f"v{i}": (1.0, 1 - i / max(V - 1, 1)) for i in range(V)}
    return pos


def _draw(axis: Any, W: np.ndarray, before: np.ndarray | None, step: int, top_k: int) -> int:
    """One panel; returns the number of rewiring events drawn."""
    nx = networkx_module()
    V, K = W.shape
    graph = fast_net_graph(W, top_k=top_k)
    pos = _positions(K, V)
    events = (
        [] if before is None else rewiring(np.stack([before, W]), [step - 1, step], top_k=top_k)
    )
    fresh = [(e.source, e.target) for e in events if e.kind in ("appear", "sign")]
    gone = [(e.source, e.target) for e in events if e.kind == "vanish"]
    peak = max((d["strength"] for _, _, d in graph.edges(data=True)), default=1.0) or 1.0
    if fresh:
        nx.draw_networkx_edges(
            graph, pos, edgelist=fresh, ax=axis, edge_color=NEW, width=5.0, alpha=0.6, arrows=False
        )
    if gone:
        shadow = nx.DiGraph(gone)
        nx.draw_networkx_edges(
            shadow, pos, ax=axis, edge_color=GONE, style=":", width=1.2, arrows=False
        )
    edges = list(graph.edges(data=True))
    nx.draw_networkx_edges(
        graph,
        pos,
        edgelist=[(u, v) for u, v, _ in edges],
        ax=axis,
        arrows=False,
        edge_color=["#c0392b" if d["weight"] > 0 else "#2166ac" for _, _, d in edges],
        width=[0.4 + 2.6 * d["strength"] / peak for _, _, d in edges],
    )
    size = 60 if max(K, V) <= LABELLED else 12
    nx.draw_networkx_nodes(graph, pos, ax=axis, node_size=size, node_color="#444444")
    if max(K, V) <= LABELLED:
        shifted = {n: (x + (-0.09 if x == 0 else 0.09), y) for n, (x, y) in pos.items()}
        nx.draw_networkx_labels(graph, shifted, ax=axis, font_size=6)
    axis.set_xlim(-0.2, 1.2)
    axis.set_ylim(-0.06, 1.06)
    axis.axis("off")
    return len(events)


def graph_view(
    recording: Recording,
    *,
    layer: int | None = None,
    head: int | None = None,
    steps: list[int] | None = None,
    max_panels: int = 4,
    top_k: int = 24,
) -> Any:
    """The fast net of one head as a graph at a few kept steps (positions ``steps``, default
    ``max_panels`` spread evenly, the last included), rewiring since the previous kept step
    highlighted. ``top_k``: the strongest edges kept per panel."""
    rec = pick_layer(recording, layer, need="weights")
    pos = head_position(rec, rec.heads[0] if head is None else head)
    cols = pick_steps(len(rec.steps), steps, max_panels)
    labels = step_labels(recording, rec)
    weights = rec.weights[:, pos]  # [T', V, K]
    figure = new_figure(2.6 * len(cols), 3.6, layout="constrained")
    axes = figure.subplots(1, len(cols), squeeze=False)[0]
    for axis, col in zip(axes, cols, strict=True):
        before = weights[col - 1] if col > 0 else None
        n = _draw(axis, weights[col], before, int(rec.steps[col]), top_k)
        since = f"{n} rewired since t={int(rec.steps[col - 1])}" if col > 0 else "first kept step"
        axis.set_title(f"t={int(rec.steps[col])} {labels[col]}\n{since}", fontsize=7)
    figure.suptitle(
        f"layer {rec.layer} ({rec.mixer}), head {rec.heads[pos]}: the fast net "
        f"(top {top_k} edges; red +, blue −; orange: new or flipped, dotted: gone)",
        fontsize=8,
    )
    return figure
