"""``FWPForCausalLM``: an ``FWPModel`` language model as a Hugging Face causal LM.

``FWPForCausalLM(config)`` holds ``model = FWPModel(config.model_config())`` (weights
``model.embed.weight``, ``model.blocks.i.…``, ``model.head.weight``), for every mixer and cell of
``MIXERS``, and keeps that model's own initialisation. ``forward(input_ids, attention_mask=None,
cache=None, use_cache=None, labels=None)`` returns a ``CausalLMOutputWithPast`` whose cache is an
``FWPCache`` (the blocks' states, ``fastweights.hf.cache``), so ``generate`` from transformers
(greedy, sampling, beam search; its logits processors and stopping criteria) continues every
sequence from its carried fast weights, one token per step.

Padding: a prompt batch with an ``attention_mask`` of 0s (left padding, as ``generate`` wants)
runs each row as its own document from the mixers' initial states (``FWPModel(x,
attention_mask=...)``): pads are never read, and a cached continuation equals the uncached one.
With a cache, the new tokens must be real (their mask 1). A right-padded batch without a cache
gives each row's logits at its tokens (0 at the pads).

Versions: transformers 4.5x names the cache ``past_key_values`` and 5.x ``cache``; the forward
takes either and the output carries it under the installed version's name (``CACHE_NAME``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from fastweights.hf.cache import FWPCache, decode
from fastweights.hf.checks import check_directory
from fastweights.hf.config import FWPConfig
from fastweights.models import FWPModel

CACHE_NAME = (
    "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
)
UNSUPPORTED = ("inputs_embeds", "output_attentions", "output_hidden_states", "position_ids")


class FWPForCausalLM(PreTrainedModel, GenerationMixin):
    """A causal LM over any mixer: ``FWPForCausalLM(FWPConfig(mixer="deltanet", …))``."""

    config_class = FWPConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = ["Block"]
    _is_stateful = True  # transformers 4.5x: no DynamicCache; the forward makes its FWPCache
    supports_gradient_checkpointing = False

    def __init__(self, config: FWPConfig) -> None:
        super().__init__(config)
        # transformers 5.x builds a model to load on the meta device; a cell draws its initial
        # state's seed with .item(), which a meta tensor cannot give: those are built on the CPU
        meta = torch.empty(0).device.type == "meta"
        with torch.device("cpu") if meta else contextlib.nullcontext():
            self.model = FWPModel(config.model_config())
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Nothing: ``FWPModel`` initialises its weights as it is built (each mixer its own)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        """transformers' ``from_pretrained``; a local directory is checked first
        (``fastweights.hf.checks``: one clear error for another model type, no safetensors,
        weights that do not fit the config), and weights missing or left over are an error."""
        path = pretrained_model_name_or_path
        config = kwargs.get("config")
        if isinstance(path, (str, Path)) and Path(path).is_dir():
            check_directory(path, config if isinstance(config, FWPConfig) else None)
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(path, *args, output_loading_info=True, **kwargs)
        bad = {key: value for key, value in info.items() if value}
        if bad:
            raise ValueError(f"{path}: the weights do not fit the model: {bad}")
        return (model, info) if wants_info else model

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the forward makes its own FWPCache (transformers 5.x asks this)

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.embed = value

    def get_output_embeddings(self) -> nn.Module:
        return self.model.head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.model.head = value

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        cache: FWPCache | None = None,
        past_key_values: FWPCache | None = None,
        use_cache: bool | None = None,
        labels: Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast | tuple[Any, ...]:
        """``input_ids [B, T]`` -> logits ``[B, T, V]``, the loss of ``labels`` (next-token,
        -100 ignored) and, with ``use_cache``, the ``FWPCache`` after these tokens."""
        for name in UNSUPPORTED:
            if kwargs.get(name) not in (None, False):
                raise ValueError(f"FWPForCausalLM does not take {name}")
        if input_ids is None:
            raise ValueError("FWPForCausalLM needs input_ids [B, T]")
        if cache is not None and past_key_values is not None and cache is not past_key_values:
            raise ValueError("give the cache once: as cache or as past_key_values")
        cache = cache if cache is not None else past_key_values
        if cache is not None and not isinstance(cache, FWPCache):
            raise TypeError(f"the cache must be an FWPCache, got {type(cache).__name__}")
        if use_cache is None:
            use_cache = bool(getattr(self.config, "use_cache", True)) and not self.training
        if use_cache and cache is None:
            cache = FWPCache()
        logits, states = self._run(input_ids, attention_mask, cache)
        if use_cache:
            cache.update_states(self.model, states, input_ids.shape[1])
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).to(torch.promote_types(logits.dtype, torch.float32)),
                labels[:, 1:].flatten().to(logits.device),
            )
        output = CausalLMOutputWithPast(loss=loss, logits=logits,
                                        **{CACHE_NAME: cache if use_cache else None})  # fmt: skip
        if return_dict is False:
            return output.to_tuple()
        return output

    def _run(
        self, x: Tensor, mask: Tensor | None, cache: FWPCache | None
    ) -> tuple[Tensor, list[Any]]:
        if cache is not None and cache.states is not None:
            if mask is not None:
                if mask.shape != (x.shape[0], cache.seen + x.shape[1]):
                    raise ValueError(
                        f"attention_mask must be [B, cached + new] = [{x.shape[0]}, "
                        f"{cache.seen + x.shape[1]}], got {list(mask.shape)}"
                    )
                if not bool(mask[:, -x.shape[1] :].all()):
                    raise ValueError("with a cache, the new tokens must be real (mask 1): pad "
                                     "a prompt batch on the left")  # fmt: skip
            return decode(self.model, x, cache.states)
        if mask is not None and not bool(mask.all()):
            return self.model(x, attention_mask=mask)
        return self.model(x)

    def prepare_inputs_for_generation(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        use_cache: bool | None = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The inputs of the next forward: the columns the cache has not read (all of them
        without a cache)."""
        cache = kwargs.get("cache")
        cache = cache if cache is not None else kwargs.get("past_key_values")
        inputs: dict[str, Any] = {"attention_mask": attention_mask, "use_cache": use_cache}
        if use_cache is not False and isinstance(cache, FWPCache):
            if cache.states is not None:
                input_ids = input_ids[:, cache.seen :]
            inputs[CACHE_NAME] = cache
        inputs["input_ids"] = input_ids.clone(memory_format=torch.contiguous_format)
        return inputs
