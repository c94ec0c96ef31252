"""The learning rules, one file each (step, recurrent and chunk forms), and the chunk helpers.

``RULES`` is the registry: adding a rule is its file plus one line here. The contract every rule
keeps is ``fastweights.ops.rule``.
"""

from fastweights.ops.rule import LearningRule
from fastweights.ops.rules.delta import delta_rule
from fastweights.ops.rules.delta_product import delta_product_rule
from fastweights.ops.rules.gated_delta import gated_delta_rule
from fastweights.ops.rules.longhorn import longhorn_rule
from fastweights.ops.rules.oja import oja_rule
from fastweights.ops.rules.sum import sum_rule
from fastweights.ops.rules.titans import titans_rule
from fastweights.ops.rules.ttt_linear import ttt_linear_rule

RULES: dict[str, LearningRule] = {
    rule.name: rule
    for rule in (
        sum_rule,
        delta_rule,
        gated_delta_rule,
        oja_rule,
        delta_product_rule,
        longhorn_rule,
        titans_rule,
        ttt_linear_rule,
    )
}

__all__ = [
    "RULES",
    "delta_product_rule",
    "delta_rule",
    "gated_delta_rule",
    "longhorn_rule",
    "oja_rule",
    "sum_rule",
    "titans_rule",
    "ttt_linear_rule",
]
