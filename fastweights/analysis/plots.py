"""The pictures of a ``Recording`` and the catalogue of which ones apply to which layer.

Every function takes a ``Recording`` (plus a layer and head where it matters) and returns a
``matplotlib.figure.Figure`` on an Agg canvas (matplotlib via the ``plots`` extra, imported when
a picture is drawn; the graph view also needs networkx, the ``graph`` extra):

- ``weight_heatmaps``, ``filmstrip``: the fast weights ``W_t`` (``plots_weights``);
- ``measure_series``, ``beta_strip``, ``traffic_heatmap``: over the tokens (``plots_series``);
- ``graph_view``: the fast net as a graph, rewiring highlighted (``plots_graph``);
- ``attention_matrices``: equivalent vs softmax attention (``plots_attention``);
- ``srwm_submatrices``, ``srwm_updates``, ``srnet_reads_writes``: the self-referential cells
  (``plots_cells``); the 1993 net per micro-step: ``srnet_microstep_maps``, ``srnet_machinery``,
  ``srnet_traffic``, ``srnet_integral_map`` (``plots_srnet``);
- ``weights_gif`` (``fastweights.analysis.animation``): W_t as an animated GIF.

``PICTURES`` names each picture with a title, a caption (what you see, what it means) and the
layers it applies to; ``pictures_for(layer)`` lists those for one recorded layer, in the order the
HTML report shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastweights.analysis.cell_matrices import cell_family
from fastweights.analysis.measures import consecutive
from fastweights.analysis.plots_attention import attention_matrices, has_attention
from fastweights.analysis.plots_base import png_bytes
from fastweights.analysis.plots_cells import (
    SRWM_CELLS,
    srnet_reads_writes,
    srwm_submatrices,
    srwm_updates,
)
from fastweights.analysis.plots_graph import graph_view
from fastweights.analysis.plots_series import beta_strip, measure_series, traffic_heatmap
from fastweights.analysis.plots_srnet import (
    srnet_integral_map,
    srnet_machinery,
    srnet_microstep_maps,
    srnet_traffic,
)
from fastweights.analysis.plots_weights import filmstrip, weight_heatmaps
from fastweights.analysis.recording import LayerRecording, Recording
from fastweights.analysis.traffic import CELL_QUERIES, READS_BEFORE_WRITE

Draw = Callable[[Recording, int, Sequence[Recording]], Any]


@dataclass(frozen=True)
class Picture:
    """One kind of picture: ``draw(recording, layer, compare) -> Figure`` where it ``applies``."""

    title: str
    caption: str
    applies: Callable[[LayerRecording], bool]
    draw: Draw


def _has_weights(layer: LayerRecording) -> bool:
    return layer.weights is not None


def _srnet_micro(layer: LayerRecording) -> bool:
    """A 1993 layer recorded at every step (its micro-steps are replayed between them)."""
    return layer.meta.get("cell") == "srnet1993" and consecutive(layer) and len(layer.steps) > 1


def _has_traffic(layer: LayerRecording) -> bool:
    family = cell_family(str(layer.meta.get("cell", "")))
    if family in READS_BEFORE_WRITE and not consecutive(layer):
        return False  # its step t reads W_(t-1): needs every step
    return layer.weights is not None and (layer.kind == "rule" or family in CELL_QUERIES)


PICTURES: dict[str, Picture] = {
    "weights": Picture(
        "The fast weight matrix W_t",
        "Each panel is one head's fast weight matrix after the step named above it (rows: value "
        "or output units, columns: key or input units; o = W q). One colour scale, symmetric "
        "around 0, holds for every step, so a colour means the same weight in every panel: "
        "stripes and blocks that grow show associations being stored; a pattern that changes "
        "sign shows an association being overwritten.",
        _has_weights,
        lambda rec, i, _: weight_heatmaps(rec, layer=i),
    ),
    "filmstrip": Picture(
        "Writes and the matrix so far (Images as Weight Matrices)",
        "Top: the update the slow net wrote at each step, ΔW_t = W_t − W_{t−1} (a rank-one "
        "outer product per step: β (v − v̄) ⊗ k for the delta rule, v ⊗ k for the sum rule); "
        "bottom: the matrix so far. This is the picture of Irie & Schmidhuber (arXiv:2210.06184). "
        "A delta-rule write that re-assigns a key partly cancels what was stored before under "
        "that key; a sum-rule write only ever adds.",
        _has_weights,
        lambda rec, i, _: filmstrip(rec, layer=i),
    ),
    "measures": Picture(
        "Measures of the fast weights over the tokens",
        "‖W_t‖_F is how much is stored; ‖W_t − W_{t−1}‖_F how hard each token writes; the "
        "effective and stable ranks how many independent associations the matrix holds; β the "
        "write strength; for a rule recorded at every step the correction ‖v_t − v̄_t‖ (what the "
        "net still had to change of the value already stored under k_t) and its running sum. "
        "A delta rule that has learned its task writes big corrections when a key gets a new "
        "value and small ones when it re-sees a known pair.",
        _has_weights,
        lambda rec, i, _: measure_series(rec, layer=i),
    ),
    "beta": Picture(
        "Write strength β under the tokens",
        "β_t per head (rows) and step (columns), the input token above: where the slow net "
        "decides to write and how strongly. β near 1 replaces the stored value outright; near 0 "
        "leaves the memory as it was.",
        lambda layer: "beta" in layer.inputs,
        lambda rec, i, _: beta_strip(rec, layer=i),
    ),
    "traffic": Picture(
        "Nodal traffic through the fast net",
        "How much signal each unit of the fast net carries at each step, Σ |W_ij x_j| into "
        "output unit i (top) and out of input unit j (bottom), with x the query the fast net "
        "reads. Bright columns are the steps where the fast net's answer is large; bright rows "
        "the units it routes through.",
        _has_traffic,
        lambda rec, i, _: traffic_heatmap(rec, layer=i),
    ),
    "graph": Picture(
        "The fast net as a graph, and its rewiring",
        "The strongest connections of one head's fast net at a few steps (inputs k_j left, "
        "outputs v_i right; red positive, blue negative, width by |w|). Orange halos mark the "
        "connections that appeared or flipped sign since the previous kept step, dotted grey "
        "the ones that fell out: the slow net rewiring the fast one as the tokens come in.",
        _has_weights,
        lambda rec, i, _: graph_view(rec, layer=i),
    ),
    "attention": Picture(
        "Attention matrices",
        "A rule that is linear in its values computes o_t = Σ_s A[t, s] v_s: this is that "
        "equivalent attention matrix A (rows: the step reading, columns: the step written). "
        "The delta rule's A has negative entries where a later write corrects an earlier one. "
        "When a softmax Transformer was recorded on the same input, its attention is shown "
        "below for comparison.",
        has_attention,
        lambda rec, i, compare: attention_matrices([rec, *compare], layer=i),
    ),
    "srwm_blocks": Picture(
        "The SRWM modifies itself: its four blocks",
        "The self-referential weight matrix W = [W_y; W_q; W_k; w_b] produces its own output, "
        "query, key and learning rates, and rewrites all of them. Each row is one block's "
        "change since the first kept step: the matrix is changing the very weights that decide "
        "how it changes next.",
        lambda layer: layer.meta.get("cell") in SRWM_CELLS,
        lambda rec, i, _: srwm_submatrices(rec, layer=i),
    ),
    "srwm_updates": Picture(
        "How much each SRWM block rewrites itself",
        "Top: the size of each block's update per step; bottom: the four rates β_t = σ(w_bᵀ x_t) "
        "that scale the updates of W_y, W_q, W_k and w_b (the first step's is unknown: the "
        "learned initial matrix is not part of the recording).",
        lambda layer: layer.meta.get("cell") in SRWM_CELLS,
        lambda rec, i, _: srwm_updates(rec, layer=i),
    ),
    "srnet_reads_writes": Picture(
        "The 1993 net reads and writes its own weights",
        "Analysis units point at a connection by its binary address and read its weight back "
        "as input (val); modification units point at one and change it by △. Left: the "
        "address bits over time and the values read and written; right: the connection each "
        "address points at (nearest code) on the grid of W, over the change of W during the "
        "sequence.",
        lambda layer: layer.meta.get("cell") == "srnet1993",
        lambda rec, i, _: srnet_reads_writes(rec, layer=i),
    ),
    "srnet_microsteps": Picture(
        "The 1993 net per micro-step: what it reads and what it writes",
        "Each column is one micro-step (the last ones of the input; t the token, s the "
        "micro-step within it). Top: the analysis address as a heat-map over the weight matrix, "
        "g(‖ana − adr(w_ij)‖²): the connections whose weights it reads back (val, above). "
        "Bottom: the write, △ · g(‖mod − adr(w_ij)‖²): the connections it changes and by how "
        "much. Rows are the units a weight leads to (hidden, output, ana, mod, △), columns the "
        "units it comes from; thin lines separate the groups.",
        _srnet_micro,
        lambda rec, i, _: srnet_microstep_maps(rec, layer=i),
    ),
    "srnet_machinery": Picture(
        "The 1993 net changes its own analysis and modification machinery",
        "The rows of W for the ana, mod and △ units are the weights into the very units that "
        "decide what the net reads and writes next. Left: per micro-step, how much the write "
        "landed in each group of rows (solid: the machinery; dotted: hidden and output). "
        "Right: the whole change of W over the input, rows grouped.",
        _srnet_micro,
        lambda rec, i, _: srnet_machinery(rec, layer=i),
    ),
    "srnet_traffic": Picture(
        "Nodal traffic through the 1993 net, per micro-step",
        "Σ_j |w_ij z_j|: how much signal flows into each computed unit (top) and out of each "
        "unit (bottom) at every micro-step, with z all units as the step reads them (obs, eval, "
        "val, bias and the computed units). Bright eval rows: the feedback being used; bright "
        "val rows: what it read of itself steering the next micro-step.",
        _srnet_micro,
        lambda rec, i, _: srnet_traffic(rec, layer=i),
    ),
    "srnet_integral": Picture(
        "The analysis integral: what the 1993 net knows of its own weights",
        "For every connection, a_ij is the net's latest reading attributed to it (each read "
        "moves the readings of the connections it points at towards val); the integral "
        "I = Σ_s (w(s) − a(s)) sums the drift the net has not read back (left), and w − a at "
        "the end (right). Zero: the net knows that weight; large: it changed the weight and "
        "never looked.",
        _srnet_micro,
        lambda rec, i, _: srnet_integral_map(rec, layer=i),
    ),
}


def pictures_for(layer: LayerRecording) -> list[str]:
    """The names of the ``PICTURES`` that apply to a recorded layer, in the report's order."""
    return [name for name, picture in PICTURES.items() if picture.applies(layer)]


def draw(name: str, recording: Recording, layer: int, compare: Sequence[Recording] = ()) -> Any:
    """Picture ``name`` of layer ``layer`` as a Figure (``compare``: other recordings on the same
    input, e.g. a softmax model's, for the attention picture)."""
    if name not in PICTURES:
        raise ValueError(f"unknown picture {name!r}; known: {', '.join(PICTURES)}")
    return PICTURES[name].draw(recording, layer, compare)


__all__ = [
    "PICTURES",
    "Picture",
    "attention_matrices",
    "beta_strip",
    "draw",
    "filmstrip",
    "graph_view",
    "measure_series",
    "pictures_for",
    "png_bytes",
    "srnet_integral_map",
    "srnet_machinery",
    "srnet_microstep_maps",
    "srnet_reads_writes",
    "srnet_traffic",
    "srwm_submatrices",
    "srwm_updates",
    "traffic_heatmap",
    "weight_heatmaps",
]
