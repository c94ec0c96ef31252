"""Checks of a model directory before ``FWPForCausalLM.from_pretrained`` reads it.

``from_pretrained`` of transformers only warns where a fastweights model must not load: a
``config.json`` of another model type (it would build ours from defaults), weights missing or
left over (they would stay random or be dropped). ``check_directory`` turns each of these, a
missing safetensors file and weights of other shapes than the config's model (a mismatched
vocabulary) into one ``FileNotFoundError`` / ``ValueError`` that says what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fastweights.hf.config import FLA_TYPES, MODEL_TYPE, FWPConfig
from fastweights.models import FWPModel

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"


def model_type(path: Path) -> Any:
    """The ``model_type`` of ``path/config.json`` (None if unreadable)."""
    try:
        return json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def check_directory(path: str | Path, config: FWPConfig | None = None) -> None:
    """``path`` holds a fastweights model whose safetensors fit its config (or ``config``)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory: no config.json")
    kind = model_type(path)
    if kind != MODEL_TYPE:
        hint = (": it is an fla checkpoint; convert it with fwp export DIR --hf OUT"
                if kind in FLA_TYPES else "")  # fmt: skip
        raise ValueError(f"{path} holds a model of type {kind!r}, not {MODEL_TYPE!r}{hint}")
    if (path / WEIGHTS).is_file():
        files = [path / WEIGHTS]
    elif (path / INDEX).is_file():
        shards = json.loads((path / INDEX).read_text()).get("weight_map", {})
        files = [path / name for name in sorted(set(shards.values()))]
    else:
        raise FileNotFoundError(f"{path} has no {WEIGHTS} (nor {INDEX})")
    check_weights(files, config if config is not None else FWPConfig.from_pretrained(path))


def check_weights(files: list[Path], config: FWPConfig) -> None:
    """The weights of ``files`` are exactly those of ``config``'s model, with its shapes."""
    from safetensors import safe_open

    expected = {f"model.{k}": tuple(v) for k, v in weight_shapes(config).items()}
    found: dict[str, tuple[int, ...]] = {}
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"no weights file {file}")
        try:
            with safe_open(str(file), framework="pt") as f:
                found |= {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        except Exception as error:  # safetensors raises its own error types
            raise ValueError(f"{file} is not a readable safetensors file: {error}") from None
    wrong = [f"{k} {list(found[k])}, the config's {list(s)}"
             for k, s in expected.items() if k in found and found[k] != s]  # fmt: skip
    if wrong:
        raise ValueError(f"the weights do not fit config.json (mixer {config.mixer!r}, "
                         f"vocab_size {config.vocab_size}, d_model {config.d_model}): "
                         f"{'; '.join(wrong[:3])}")  # fmt: skip
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        raise ValueError(f"the weights do not fit config.json: missing {missing[:5]}, not in "
                         f"the model {extra[:5]}")  # fmt: skip


def weight_shapes(config: FWPConfig) -> dict[str, torch.Size]:
    """The shape of every entry of the state dict of ``config``'s ``FWPModel``, built on the
    meta device (a cell's initial state, whose seed a meta tensor cannot draw: on the CPU)."""
    try:
        with torch.device("meta"):
            model = FWPModel(config.model_config())
    except RuntimeError:
        model = FWPModel(config.model_config())
    return {k: v.shape for k, v in model.state_dict().items()}
