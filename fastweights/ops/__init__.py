"""Pure tensor functions: the fast-weight learning rules and the feature maps.

``RULES[name](q, k, v, beta, *, impl, scale=None, initial_state=None, chunk_size=64,
cu_seqlens=None, **gates) -> Output(o, state)``; see ``fastweights.ops.rule`` for the contract.
"""

from fastweights.ops.delta import delta_rule
from fastweights.ops.feature_maps import FEATURE_MAPS, apply_feature_map, feature_dim
from fastweights.ops.gated_delta import gated_delta_rule
from fastweights.ops.oja import oja_rule
from fastweights.ops.rule import LearningRule, Output
from fastweights.ops.sum import sum_rule

RULES: dict[str, LearningRule] = {
    rule.name: rule for rule in (sum_rule, delta_rule, gated_delta_rule, oja_rule)
}

__all__ = [
    "FEATURE_MAPS",
    "RULES",
    "LearningRule",
    "Output",
    "apply_feature_map",
    "delta_rule",
    "feature_dim",
    "gated_delta_rule",
    "oja_rule",
    "sum_rule",
]
