"""Pure tensor functions: the fast-weight learning rules, the cells and the feature maps.

``RULES[name](q, k, v, beta, *, impl, scale=None, initial_state=None, chunk_size=64,
cu_seqlens=None, **gates) -> Output(o, state)``; see ``fastweights.ops.rule`` for the contract.
``CELLS[name](x, state, params=None, *, impl) -> (y, state)``; see ``fastweights.ops.cell``.
"""

from fastweights.ops import (
    delta_delta,
    delta_lstm,
    delta_mlp,
    delta_rnn,
    fwp1991,
    rdn,
    sr_delta,
    srnet1993,
    srwm,
)
from fastweights.ops.cell import Cell
from fastweights.ops.delta import delta_rule
from fastweights.ops.feature_maps import FEATURE_MAPS, apply_feature_map, feature_dim
from fastweights.ops.gated_delta import gated_delta_rule
from fastweights.ops.oja import oja_rule
from fastweights.ops.rule import LearningRule, Output
from fastweights.ops.sum import sum_rule

RULES: dict[str, LearningRule] = {
    rule.name: rule for rule in (sum_rule, delta_rule, gated_delta_rule, oja_rule)
}

CELLS: dict[str, Cell] = {
    cell.name: cell
    for cell in (
        srwm.cell,
        srwm.fake_cell,
        sr_delta.cell,
        delta_rnn.cell,
        delta_lstm.cell,
        rdn.cell,
        delta_mlp.cell,
        delta_delta.cell,
        fwp1991.cell,
        srnet1993.cell,
    )
}

__all__ = [
    "CELLS",
    "FEATURE_MAPS",
    "RULES",
    "Cell",
    "LearningRule",
    "Output",
    "apply_feature_map",
    "delta_rule",
    "feature_dim",
    "gated_delta_rule",
    "oja_rule",
    "sum_rule",
]
