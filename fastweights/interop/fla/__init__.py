"""fla (flash-linear-attention) layers and checkpoints as ours.

``from_fla(layer)``: an fla ``DeltaNet`` / ``GatedDeltaNet`` layer as our ``DeltaNet`` /
``GatedDeltaNet`` with the same weights. ``load_fla_checkpoint(path)``: an fla
``DeltaNetForCausalLM`` / ``GatedDeltaNetForCausalLM`` checkpoint directory as an ``FWPModel``,
to evaluate, generate from and inspect (``fwp generate``, ``fwp inspect``). Nothing here imports
fla: the conversion reads its layers' attributes and its checkpoints' files.
"""

from fastweights.interop.fla.checkpoint import (
    fla_model_config,
    is_fla_checkpoint,
    load_fla_checkpoint,
    read_fla_config,
)
from fastweights.interop.fla.layers import fla_options, from_fla, load_fla_weights

__all__ = [
    "fla_model_config",
    "fla_options",
    "from_fla",
    "is_fla_checkpoint",
    "load_fla_checkpoint",
    "load_fla_weights",
    "read_fla_config",
]
