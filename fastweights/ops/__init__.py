"""Pure tensor functions: the contracts, checks and feature maps here; the learning rules in
``ops.rules``, the cells in ``ops.cells``, the optional GPU kernels in ``ops.triton``.

``RULES[name](q, k, v, beta, *, impl, scale=None, initial_state=None, chunk_size=64,
cu_seqlens=None, **gates) -> Output(o, state)``; see ``fastweights.ops.rule`` for the contract.
``CELLS[name](x, state, params=None, *, impl) -> (y, state)``; see ``fastweights.ops.cell``.
"""

from fastweights.ops.cell import Cell
from fastweights.ops.cells import CELLS
from fastweights.ops.feature_maps import FEATURE_MAPS, apply_feature_map, feature_dim
from fastweights.ops.rule import LearningRule, Output, RuleSpec
from fastweights.ops.rules import (
    RULES,
    delta_product_rule,
    delta_rule,
    gated_delta_rule,
    longhorn_rule,
    oja_rule,
    sum_rule,
    titans_rule,
    ttt_linear_rule,
)

__all__ = [
    "CELLS",
    "FEATURE_MAPS",
    "RULES",
    "Cell",
    "LearningRule",
    "Output",
    "RuleSpec",
    "apply_feature_map",
    "delta_product_rule",
    "delta_rule",
    "feature_dim",
    "gated_delta_rule",
    "longhorn_rule",
    "oja_rule",
    "sum_rule",
    "titans_rule",
    "ttt_linear_rule",
]
