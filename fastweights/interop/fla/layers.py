"""fla's ``DeltaNet`` and ``GatedDeltaNet`` layers as ours, with the same weights (``from_fla``).

Our published layers carry fla's parameter names below their two stages, so fla's parameter
``n`` is ours ``project.n`` (the slow net: ``q_proj``, ``q_conv1d``, ``b_proj``, ``a_proj``,
``A_log``, ``dt_bias``, ...) or ``out.n`` (the read-out: ``o_norm``, ``g_proj``, ``o_proj``).
``fla_options(layer)`` reads an fla layer's configuration off its attributes; nothing here
imports fla, so a layer is recognised by its class name and module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from fastweights.nn import DeltaNet, GatedDeltaNet, RuleLayer

STAGES = ("project", "out")  # fla's name n is ours f"{stage}.{n}" for exactly one stage


def fla_options(layer: nn.Module) -> tuple[str, dict[str, Any]]:
    """``(mixer name, options)`` of an fla ``DeltaNet`` / ``GatedDeltaNet`` layer."""
    kind = type(layer).__name__
    if not type(layer).__module__.startswith("fla.") or kind not in ("DeltaNet", "GatedDeltaNet"):
        raise TypeError(f"from_fla takes an fla DeltaNet or GatedDeltaNet layer, got "
                        f"{type(layer).__module__}.{kind}")  # fmt: skip
    common = {
        "use_gate": layer.use_gate,
        "use_short_conv": layer.use_short_conv,
        "conv_size": layer.conv_size,
        "conv_bias": layer.conv_bias,
        "allow_neg_eigval": layer.allow_neg_eigval,
        "norm_eps": layer.o_norm.eps,
    }
    if kind == "DeltaNet":
        return "deltanet", common | {
            "expand_k": layer.expand_k,
            "expand_v": layer.expand_v,
            "use_beta": layer.use_beta,
            "qk_activation": layer.qk_activation,
            "qk_norm": layer.qk_norm,
        }
    gate = layer.o_norm.activation if layer.use_gate else "swish"
    return "gated_deltanet", common | {
        "head_dim": layer.head_dim,
        "expand_v": layer.expand_v,
        "num_v_heads": layer.num_v_heads,
        "output_gate_activation": gate,
    }


def from_fla(layer: nn.Module) -> DeltaNet | GatedDeltaNet:
    """Our layer equal to an fla ``DeltaNet`` / ``GatedDeltaNet`` layer, holding a copy of its
    weights (float32 parameters on the CPU, as any new module; move or cast it after)."""
    name, options = fla_options(layer)
    cls = DeltaNet if name == "deltanet" else GatedDeltaNet
    ours = cls(layer.hidden_size, layer.num_heads, **options)
    load_fla_weights(ours, layer.state_dict())
    return ours


def our_names(mixer: RuleLayer, fla_names: list[str]) -> dict[str, str]:
    """fla's parameter name -> ours, for a published layer ``mixer``."""
    ours = set(mixer.state_dict())
    table, unknown = {}, []
    for name in fla_names:
        matches = [f"{stage}.{name}" for stage in STAGES if f"{stage}.{name}" in ours]
        if len(matches) != 1:
            unknown.append(name)
        else:
            table[name] = matches[0]
    missing = sorted(ours - set(table.values()))
    if unknown or missing:
        raise ValueError(f"the fla weights do not fit {type(mixer).__name__}: no place for "
                         f"{unknown}, nothing for {missing}")  # fmt: skip
    return table


def load_fla_weights(mixer: RuleLayer, weights: Mapping[str, Tensor]) -> None:
    """Copy fla-named ``weights`` (one layer's state dict) into ``mixer``, shapes checked."""
    table = our_names(mixer, list(weights))
    state = mixer.state_dict()
    for fla_name, name in table.items():
        if tuple(weights[fla_name].shape) != tuple(state[name].shape):
            raise ValueError(f"fla weight {fla_name} has shape {list(weights[fla_name].shape)}, "
                             f"ours {name} {list(state[name].shape)}")  # fmt: skip
    mixer.load_state_dict({table[n]: w.detach() for n, w in weights.items()})  # copied in our dtype
