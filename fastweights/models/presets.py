"""Named model presets, and presets of equal size across mixers.

``PRESETS`` are plain dicts of ``ModelConfig`` fields. Mixers differ in parameters per width
(an LSTM has 8·d² per layer, attention 4·d², a DeltaNet layer 4·d² + 2·d·H), so a fair
comparison matches sizes: ``matched_config`` widens or narrows ``d_model`` (keeping it a
multiple of ``n_heads``) until the parameter count is as close as it gets to a reference.
The reference's ``short_conv``, ``impl`` and ``chunk_size`` carry over to the mixers that take
them (0 or None for the others); a form the other mixer lacks is an error, not a silent switch;
``block``, ``mlp_hidden`` and ``norm_eps`` carry over as they are.

The published layers get ``<mixer>-tiny`` and ``<mixer>-small`` presets in fla's and Llama's
block (``block="llama"``: RMSNorm, SwiGLU MLP, head without bias), the sizes of ``tiny`` and
``small``; the other presets leave ``mixer`` and ``block`` to the caller (``delta``, ``classic``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastweights.models.model import FWPModel, ModelConfig, mixer_accepts, takes_short_conv

_TINY = {"d_model": 64, "n_layers": 2, "n_heads": 4}
_SMALL = {"d_model": 128, "n_layers": 4, "n_heads": 4}
_LLAMA = {"block": "llama"}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(_TINY),
    "small": dict(_SMALL),
    # the language-modelling setting of Irie et al. 2021 (arXiv:2106.06295): 16 layers, d 128
    "lm-16x128": {"d_model": 128, "n_layers": 16, "n_heads": 8},
    # the published layers in fla's block: DeltaNet, Gated DeltaNet, linear and softmax Transformer
    "deltanet-tiny": {**_TINY, "mixer": "deltanet", **_LLAMA},
    "deltanet-small": {**_SMALL, "mixer": "deltanet", **_LLAMA},
    "gated_deltanet-tiny": {**_TINY, "mixer": "gated_deltanet", **_LLAMA},
    "gated_deltanet-small": {**_SMALL, "mixer": "gated_deltanet", **_LLAMA},
    "linear_transformer-tiny": {**_TINY, "mixer": "linear_transformer", **_LLAMA},
    "linear_transformer-small": {**_SMALL, "mixer": "linear_transformer", **_LLAMA},
    "transformer-tiny": {**_TINY, "mixer": "transformer", **_LLAMA},
    "transformer-small": {**_SMALL, "mixer": "transformer", **_LLAMA},
}


def preset_config(name: str, **fields: Any) -> ModelConfig:
    """``ModelConfig`` of preset ``name`` with ``fields`` (mixer, vocab_size, ...) on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **fields})


def count_parameters(config: ModelConfig) -> int:
    return FWPModel(config).num_parameters()


def matched_config(
    config: ModelConfig, mixer: str, *, target: int | None = None, **mixer_options: Any
) -> ModelConfig:
    """``config`` with ``mixer``, its ``d_model`` chosen so the size matches ``config``'s (or
    ``target`` parameters, where given).

    A width the mixer refuses (RoPE's odd head size) is passed over; a mixer that refuses every
    width (a form it lacks) raises its first error."""
    target = count_parameters(config) if target is None else target
    step = config.n_heads
    best, best_gap, refusal = None, None, None
    short_conv = config.short_conv if takes_short_conv(mixer) else 0
    accepts = mixer_accepts(mixer)
    form = {name: getattr(config, name) if name in accepts else None
            for name in ("impl", "chunk_size")}  # fmt: skip
    for d_model in range(step, 8 * config.d_model + step, step):
        candidate = replace(config, mixer=mixer, d_model=d_model, short_conv=short_conv,
                            mixer_options=mixer_options, **form)  # fmt: skip
        try:
            size = count_parameters(candidate)
        except ValueError as error:
            refusal = refusal or error
            continue
        gap = abs(size - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = candidate, gap
        elif size > target:
            break  # sizes grow with d_model: past the target and getting worse
    if best is None:
        assert refusal is not None
        raise refusal
    return best
