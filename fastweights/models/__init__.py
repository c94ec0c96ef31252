"""Models built from the mixers: ``FWPModel`` (sequence model, language model, classifier)."""

from fastweights.models.compiling import compile_model
from fastweights.models.model import POOLS, Block, FWPModel, ModelConfig
from fastweights.models.presets import PRESETS, count_parameters, matched_config, preset_config

__all__ = [
    "POOLS",
    "PRESETS",
    "Block",
    "FWPModel",
    "ModelConfig",
    "compile_model",
    "count_parameters",
    "matched_config",
    "preset_config",
]
