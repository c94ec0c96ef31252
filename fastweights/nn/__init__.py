"""Modules that own parameters and call ``fastweights.ops``: the mixers (rules, cells, baselines).

``MIXERS[name](d_model, n_heads, **options)`` builds a module with
``forward(x [B, T, d_model], state=None) -> (y [B, T, d_model], state)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from fastweights.nn.baselines import LSTMMixer, SoftmaxAttention
from fastweights.nn.cell_layer import CellLayer, CellProjection
from fastweights.nn.delta_product import DeltaProductNet
from fastweights.nn.deltanet import DeltaNet, GatedDeltaNet
from fastweights.nn.fast_weight_layer import FastWeightLayer, RuleProjection
from fastweights.nn.linear_transformer import LinearTransformer
from fastweights.nn.longhorn import LonghornLayer
from fastweights.nn.rule_layer import FastWeightState, RuleInputs, RuleLayer
from fastweights.nn.short_conv import ShortConvolution
from fastweights.nn.titans import TitansMemory
from fastweights.nn.transformer import RotaryAttention
from fastweights.nn.ttt_linear import TTTLinear
from fastweights.ops import CELLS, RULES

MIXERS: dict[str, Callable[..., nn.Module]] = {
    # the published layers, as their papers and fla build them (docs/layers.md)
    "deltanet": DeltaNet,
    "gated_deltanet": GatedDeltaNet,
    "linear_transformer": LinearTransformer,
    "deltaproduct": DeltaProductNet,  # n_h = 2 Householder steps per token (arXiv:2502.10297)
    "longhorn_block": LonghornLayer,  # Mamba-style block over the longhorn rule (arXiv:2407.14207)
    "titans_memory": TitansMemory,  # linear memory, GD with momentum and decay (arXiv:2501.00663)
    "ttt_linear_layer": TTTLinear,  # f(x) = x + LN(Wx) trained per token (arXiv:2407.04620)
    # the minimal layers: every rule with its own layer defaults (``LearningRule.layer``)
    **{name: partial(FastWeightLayer, rule=name) for name in RULES},
    # the minimal delta layer with DeltaNet's short convolution of 4 (arXiv:2406.06484)
    "delta_conv": partial(FastWeightLayer, rule="delta", short_conv=4),
    "dpfp": partial(FastWeightLayer, rule="sum", feature_map="dpfp", feature_options={"nu": 1}),
    "softmax": SoftmaxAttention,
    "transformer": RotaryAttention,
    "lstm": LSTMMixer,
    # every registered cell that says how it becomes a layer (``Cell.layer``)
    **{name: partial(CellLayer, cell=name) for name, c in CELLS.items() if c.layer is not None},
}

__all__ = [
    "MIXERS",
    "CellLayer",
    "CellProjection",
    "DeltaNet",
    "DeltaProductNet",
    "FastWeightLayer",
    "FastWeightState",
    "GatedDeltaNet",
    "LSTMMixer",
    "LinearTransformer",
    "LonghornLayer",
    "RotaryAttention",
    "RuleInputs",
    "RuleLayer",
    "RuleProjection",
    "ShortConvolution",
    "SoftmaxAttention",
    "TTTLinear",
    "TitansMemory",
]
