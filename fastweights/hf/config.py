"""``FWPConfig``: an ``FWPModel`` language model's config as a Hugging Face ``PretrainedConfig``.

Its fields are ``ModelConfig``'s for a language model (``mixer, vocab_size, d_model, n_layers,
n_heads, mlp_ratio, short_conv, impl, chunk_size, mixer_options, block, mlp_hidden, norm_eps``)
plus Hugging Face's own (``eos_token_id``, ``pad_token_id``, ...); ``model_type`` is ``"fwp"``.
Hugging Face's names ``hidden_size``, ``num_hidden_layers`` and ``num_attention_heads`` read
``d_model``, ``n_layers`` and ``n_heads``. The config is checked when it is made, by building
its ``ModelConfig`` (an unknown mixer or a bad value is one ``ValueError``), and reading a
``config.json`` of another ``model_type`` is refused (an fla checkpoint is pointed to
``fwp export``). The head is never tied to the embedding (``FWPModel`` has its own head).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

from transformers import PretrainedConfig

from fastweights.models import ModelConfig

MODEL_TYPE = "fwp"
# ModelConfig's fields that a language model sets; d_input, n_out and pool stay at their defaults
FIELDS = ("mixer", "vocab_size", "d_model", "n_layers", "n_heads", "mlp_ratio", "short_conv",
          "impl", "chunk_size", "mixer_options", "block", "mlp_hidden", "norm_eps")  # fmt: skip
FLA_TYPES = ("delta_net", "gated_deltanet")


class FWPConfig(PretrainedConfig):
    """The config of ``FWPForCausalLM``: ``FWPConfig(mixer="deltanet", vocab_size=…, …)``."""

    model_type = MODEL_TYPE
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads"
    }  # fmt: skip

    def __init__(
        self,
        mixer: str = "delta",
        vocab_size: int = 256,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        mlp_ratio: int = 4,
        short_conv: int = 0,
        impl: str | None = None,
        chunk_size: int | None = None,
        mixer_options: dict[str, Any] | None = None,
        block: str = "classic",
        mlp_hidden: int = 0,
        norm_eps: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("tie_word_embeddings"):
            raise ValueError("tie_word_embeddings=True: an FWPModel's head has its own weights")
        kwargs["tie_word_embeddings"] = False
        self.mixer = mixer
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.short_conv = short_conv
        self.impl = impl
        self.chunk_size = chunk_size
        self.mixer_options = dict(mixer_options or {})
        self.block = block
        self.mlp_hidden = mlp_hidden
        self.norm_eps = norm_eps
        super().__init__(**kwargs)
        self.model_config()  # checks every field: one ValueError for a bad one

    def model_config(self) -> ModelConfig:
        """The ``ModelConfig`` of the wrapped ``FWPModel``."""
        return ModelConfig(**{name: getattr(self, name) for name in FIELDS})

    @classmethod
    def from_model_config(cls, config: ModelConfig, **kwargs: Any) -> FWPConfig:
        """The ``FWPConfig`` of a language model's ``ModelConfig`` (``kwargs``: Hugging Face's
        fields, e.g. ``eos_token_id``); a classifier or a model of vector inputs is refused."""
        if not config.vocab_size or config.pool != "none" or config.outputs != config.vocab_size:
            raise ValueError(
                "a Hugging Face causal LM needs a language model (vocab_size > 0, pool='none', "
                f"n_out 0 or vocab_size), got vocab_size={config.vocab_size}, "
                f"d_input={config.d_input}, pool={config.pool!r}, n_out={config.n_out}"
            )
        known = {f.name for f in fields(ModelConfig)}
        assert set(FIELDS) <= known, "FIELDS names a field that ModelConfig lacks"
        return cls(**{name: getattr(config, name) for name in FIELDS}, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> Any:
        kind = config_dict.get("model_type")
        if kind is not None and kind != MODEL_TYPE:
            hint = (
                "; it is an fla checkpoint: convert it with fwp export DIR --hf OUT"
                if kind in FLA_TYPES
                else ""
            )
            raise ValueError(
                f"the config has model_type {kind!r}, not {MODEL_TYPE!r}: not a fastweights "
                f"model{hint}"
            )
        return super().from_dict(config_dict, **kwargs)
