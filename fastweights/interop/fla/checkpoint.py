"""A whole fla ``DeltaNetForCausalLM`` / ``GatedDeltaNetForCausalLM`` checkpoint as an ``FWPModel``.

A checkpoint directory holds fla's ``config.json`` and its weights (``model.safetensors``, the
shards of ``model.safetensors.index.json``, or ``pytorch_model.bin``). ``fla_model_config``
turns the config into a ``ModelConfig`` with the llama block (pre-RMSNorm, SwiGLU MLP: fla's
block), and ``load_fla_checkpoint`` moves the weights in by name::

    model.embeddings          -> embed              model.layers.i.attn_norm -> blocks.i.norm
    model.layers.i.attn.n     -> blocks.i.mixer.{project|out}.n
    model.layers.i.mlp_norm   -> blocks.i.mlp_norm  model.layers.i.mlp.n     -> blocks.i.mlp.n
    model.norm                -> norm               lm_head                  -> head

(with ``tie_word_embeddings`` and no ``lm_head`` weight, the head gets a copy of the
embeddings). Hybrid models (``attn`` layers), attention residuals (``attnres_block_size``) and
other MLP activations than swish are refused with a clear error, as is a weight without a place
or a place without a weight. Reading safetensors needs the ``safetensors`` package
(``pip install 'fastweights[fla]'``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fastweights.interop.fla.layers import our_names
from fastweights.models import FWPModel, ModelConfig

# fla 0.6's config defaults, for keys a config.json leaves out
DEFAULTS: dict[str, dict[str, Any]] = {
    "delta_net": {
        "hidden_size": 2048, "expand_k": 1.0, "expand_v": 1.0, "use_gate": False,
        "use_short_conv": True, "allow_neg_eigval": False, "conv_size": 4, "use_beta": True,
        "num_heads": 16, "qk_norm": "l2", "qk_activation": "silu", "num_hidden_layers": 24,
    },
    "gated_deltanet": {
        "hidden_size": 2048, "expand_v": 2.0, "use_gate": True, "use_short_conv": True,
        "allow_neg_eigval": False, "conv_size": 4, "head_dim": 256, "num_heads": 6,
        "num_v_heads": None, "num_hidden_layers": 21, "output_gate_activation": "swish",
    },
}  # fmt: skip
COMMON = {"hidden_ratio": 4, "intermediate_size": None, "hidden_act": "swish", "norm_eps": 1e-6,
          "vocab_size": 32000, "tie_word_embeddings": False, "attn": None,
          "attnres_block_size": None}  # fmt: skip
MIXER = {"delta_net": "deltanet", "gated_deltanet": "gated_deltanet"}
LAYER_OPTIONS = {
    "delta_net": ("expand_k", "expand_v", "use_gate", "use_short_conv", "allow_neg_eigval",
                  "conv_size", "use_beta", "qk_norm", "qk_activation"),
    "gated_deltanet": ("head_dim", "expand_v", "num_v_heads", "use_gate", "use_short_conv",
                       "allow_neg_eigval", "conv_size", "output_gate_activation"),
}  # fmt: skip


def read_fla_config(path: str | Path) -> dict[str, Any]:
    """fla's ``config.json`` of a checkpoint directory, with fla's defaults filled in."""
    file = Path(path) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint directory: no config.json")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file} is not valid JSON: {error}") from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in MIXER:
        raise ValueError(f"{file}: model_type {kind!r} is not an fla model we load; "
                         f"known: {', '.join(MIXER)}")  # fmt: skip
    return DEFAULTS[kind] | COMMON | config


def is_fla_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a directory whose ``config.json`` names an fla model we load."""
    file = Path(path) / "config.json"
    try:
        return json.loads(file.read_text()).get("model_type") in MIXER
    except (OSError, ValueError, AttributeError):
        return False


def fla_model_config(config: dict[str, Any]) -> ModelConfig:
    """The ``ModelConfig`` of a (filled-in) fla config."""
    for key, why in (("attn", "hybrid attention layers"),
                     ("attnres_block_size", "attention residuals")):  # fmt: skip
        if config[key] is not None:
            raise ValueError(f"fla config: {key} = {config[key]!r} ({why}) is not supported")
    if config["hidden_act"] != "swish":
        raise ValueError(f"fla config: hidden_act {config['hidden_act']!r} is not supported "
                         "(only swish: the SwiGLU MLP)")  # fmt: skip
    kind = config["model_type"]
    options = {key: config[key] for key in LAYER_OPTIONS[kind]} | {"norm_eps": config["norm_eps"]}
    return ModelConfig(
        mixer=MIXER[kind], d_model=config["hidden_size"], n_layers=config["num_hidden_layers"],
        n_heads=config["num_heads"], vocab_size=config["vocab_size"], block="llama",
        mlp_ratio=config["hidden_ratio"] or 4, mlp_hidden=config["intermediate_size"] or 0,
        norm_eps=config["norm_eps"], mixer_options=options,
    )  # fmt: skip


def read_weights(path: str | Path) -> dict[str, Tensor]:
    """The weights of a checkpoint directory: safetensors (one file or shards) or a .bin."""
    path = Path(path)
    single, index, binary = (path / name for name in
                             ("model.safetensors", "model.safetensors.index.json",
                              "pytorch_model.bin"))  # fmt: skip
    if single.is_file() or index.is_file():
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError("reading safetensors needs the safetensors package: "
                              "pip install 'fastweights[fla]'") from None  # fmt: skip
        if single.is_file():
            files = [single]
        else:
            shards = json.loads(index.read_text()).get("weight_map", {})
            files = [path / name for name in sorted(set(shards.values()))]
        weights: dict[str, Tensor] = {}
        for file in files:
            try:
                weights |= load_file(file)
            except Exception as error:  # safetensors raises its own error types
                raise ValueError(f"{file} is not a readable safetensors file: {error}") from None
        return weights
    if binary.is_file():
        try:
            return torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as error:  # a torch file that is corrupt or would run code
            raise ValueError(f"{binary} is not a readable weights file: {error}") from None
    raise FileNotFoundError(f"{path}: no model.safetensors, model.safetensors.index.json "
                            "or pytorch_model.bin")  # fmt: skip


_LAYER = re.compile(r"model\.layers\.(\d+)\.(attn_norm|attn|mlp_norm|mlp)\.(.+)")
_FIXED = {"model.embeddings.weight": "embed.weight", "model.norm.weight": "norm.weight",
          "lm_head.weight": "head.weight"}  # fmt: skip


def our_model_names(model: FWPModel, fla_names: list[str]) -> dict[str, str]:
    """fla's parameter name -> ours, for a whole model (``ValueError`` for one without a place)."""
    table, attn = {}, {}
    for name in fla_names:
        match = _LAYER.fullmatch(name)
        if name in _FIXED:
            table[name] = _FIXED[name]
        elif match is None:
            raise ValueError(f"the fla weight {name} has no place in an FWPModel")
        else:
            i, part, rest = match.groups()
            if part == "attn":
                attn.setdefault(int(i), []).append(rest)
            else:
                table[name] = f"blocks.{i}.{'norm' if part == 'attn_norm' else part}.{rest}"
    for i, names in attn.items():
        if i >= len(model.blocks):
            raise ValueError(f"the fla weights have layer {i}; the config has {len(model.blocks)}")
        for fla_name, ours in our_names(model.blocks[i].mixer, names).items():
            table[f"model.layers.{i}.attn.{fla_name}"] = f"blocks.{i}.mixer.{ours}"
    return table


def load_fla_checkpoint(path: str | Path) -> FWPModel:
    """The ``FWPModel`` of an fla checkpoint directory, with its weights, in eval mode."""
    config = read_fla_config(path)
    model = FWPModel(fla_model_config(config))
    weights = read_weights(path)
    tied = config["tie_word_embeddings"] and "model.embeddings.weight" in weights
    if tied and "lm_head.weight" not in weights:
        weights["lm_head.weight"] = weights["model.embeddings.weight"]
    table = our_model_names(model, list(weights))
    missing = sorted(set(model.state_dict()) - set(table.values()))
    if missing:
        raise ValueError(f"{path}: the checkpoint has no weights for {missing}")
    state = model.state_dict()
    for fla_name, name in table.items():
        if tuple(weights[fla_name].shape) != tuple(state[name].shape):
            raise ValueError(f"{path}: weight {fla_name} has shape {list(weights[fla_name].shape)},"
                             f" the config's model {list(state[name].shape)}")  # fmt: skip
    model.load_state_dict({table[name]: w for name, w in weights.items()})
    return model.eval()
