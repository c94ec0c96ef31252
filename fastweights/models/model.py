"""``FWPModel``: a stack of pre-norm residual blocks around any mixer in ``MIXERS``.

    h_0 = embed(x)                      (token ids [B, T], or vectors [B, T, d_input])
    h   = h + mixer(norm(h))            (then, with mlp_ratio > 0, h = h + mlp(norm(h)))
    logits = head(norm(h))              ([B, T, n_out]; pool="last" or "mean": [B, n_out])

``forward(x, states=None) -> (logits, states)``: one state per block, carried across calls, so
a prompt's states continue token by token (``generate``): a fast-weight model keeps O(1) memory
per new token, whatever the context length.

``short_conv`` (a kernel size, 0 for none) gives every block's mixer DeltaNet's short
convolution (``fastweights.nn.ShortConvolution``), for the mixers that take the option (the
``FastWeightLayer`` ones); a block's state is then a ``FastWeightState(fast, conv)``.

``impl`` names the form every block's mixer runs (a rule's ``recurrent``, ``chunk``,
``triton_recurrent``, ``triton_chunk``; a cell's forms; ``fastweights.ops``) and ``chunk_size``
the chunk length of a chunk form; None leaves the mixer's default. A mixer without the option
(``softmax``, ``lstm``; cells have no ``chunk_size``) refuses it, and a form it lacks is an error.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from fastweights.nn import MIXERS

POOLS = ("none", "last", "mean")


@dataclass(frozen=True)
class ModelConfig:
    """The model; exactly one of ``vocab_size`` (token ids in) and ``d_input`` (vectors in)."""

    mixer: str = "delta"
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_out: int = 0  # output size; 0 means vocab_size (a language model)
    vocab_size: int = 0
    d_input: int = 0
    mlp_ratio: int = 4  # hidden size of the MLP in units of d_model; 0 means no MLP
    pool: str = "none"  # "none": per-position outputs; "last"/"mean": one per sequence
    short_conv: int = 0  # kernel size of the short convolution on q, k, v; 0 means none
    impl: str | None = None  # the form the mixers run (e.g. "chunk"); None: the mixer's default
    chunk_size: int | None = None  # tokens per chunk of a chunk form; None: the mixer's default
    mixer_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mixer not in MIXERS:
            raise ValueError(f"unknown mixer {self.mixer!r}; known mixers: {', '.join(MIXERS)}")
        for name in ("d_model", "n_layers", "n_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("n_out", "vocab_size", "d_input", "mlp_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if (self.vocab_size > 0) == (self.d_input > 0):
            raise ValueError(
                f"give exactly one of vocab_size and d_input, got {self.vocab_size} and "
                f"{self.d_input}"
            )
        if self.n_out == 0 and self.vocab_size == 0:
            raise ValueError("n_out must be given for vector inputs (d_input > 0)")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        self._check_short_conv()
        self._check_form()

    def _check_short_conv(self) -> None:
        value = self.short_conv
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
            raise ValueError(f"short_conv must be 0 (none) or a kernel size >= 2, got {value!r}")
        if value and not takes_short_conv(self.mixer):
            raise ValueError(
                f"mixer {self.mixer!r} has no short convolution (short_conv={value}); mixers "
                f"with one: {', '.join(m for m in MIXERS if takes_short_conv(m))}"
            )
        if value and "short_conv" in self.mixer_options:
            raise ValueError("give short_conv once: as a field or in mixer_options, not both")

    def _check_form(self) -> None:
        if self.impl is not None and not isinstance(self.impl, str):
            raise TypeError(f"impl must be a form name (str) or None, got {self.impl!r}")
        value = self.chunk_size
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"chunk_size must be a positive integer or None, got {value!r}")
        for name in ("impl", "chunk_size"):
            value = getattr(self, name)
            if value is None:
                continue
            if name in self.mixer_options:
                raise ValueError(f"give {name} once: as a field or in mixer_options, not both")
            accepted = mixer_accepts(self.mixer)
            if name not in accepted:
                raise ValueError(
                    f"mixer {self.mixer!r} has no {name} option ({name}={value!r}); it accepts: "
                    f"{', '.join(accepted) or 'no options'}"
                )

    def mixer_kwargs(self) -> dict[str, Any]:
        """The options each block's mixer is built with: ``mixer_options``, and ``short_conv``,
        ``impl`` and ``chunk_size`` where they are set."""
        fields = {"short_conv": self.short_conv or None, "impl": self.impl,
                  "chunk_size": self.chunk_size}  # fmt: skip
        return {**self.mixer_options, **{k: v for k, v in fields.items() if v is not None}}

    @property
    def outputs(self) -> int:
        return self.n_out or self.vocab_size


def takes_short_conv(mixer: str) -> bool:
    """Whether ``MIXERS[mixer]`` takes a ``short_conv`` option (the ``FastWeightLayer`` ones)."""
    return "short_conv" in inspect.signature(MIXERS[mixer]).parameters


def mixer_accepts(mixer: str) -> tuple[str, ...]:
    """The options ``MIXERS[mixer]`` takes beyond ``d_model, n_heads`` and what its registry
    line fixes (a rule mixer's ``rule``, a cell mixer's ``cell``)."""
    factory = MIXERS[mixer]
    fixed = set(factory.keywords) if isinstance(factory, partial) else set()
    return tuple(
        name
        for name in inspect.signature(factory).parameters
        if name not in ("d_model", "n_heads") and name not in fixed
    )


class Block(nn.Module):
    """``h + mixer(norm(h))``, then ``h + mlp(norm(h))`` when the MLP is on."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm = nn.LayerNorm(d)
        self.mixer = MIXERS[config.mixer](d, config.n_heads, **config.mixer_kwargs())
        self.mlp = None
        if config.mlp_ratio:
            hidden = config.mlp_ratio * d
            self.mlp_norm = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, h: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        y, state = self.mixer(self.norm(h), state)
        h = h + y
        if self.mlp is not None:
            h = h + self.mlp(self.mlp_norm(h))
        return h, state


class FWPModel(nn.Module):
    """A sequence model / language model / classifier over one kind of mixer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        if config.vocab_size:
            self.embed: nn.Module = nn.Embedding(config.vocab_size, d)
        else:
            self.embed = nn.Linear(config.d_input, d)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.outputs)

    def forward(self, x: Tensor, states: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """``x [B, T]`` ids or ``[B, T, d_input]`` -> ``(logits, states)``, one state per block."""
        self._check_input(x)
        states = states if states is not None else [None] * len(self.blocks)
        if len(states) != len(self.blocks):
            raise ValueError(
                f"expected {len(self.blocks)} states (one per block), got {len(states)}"
            )
        h = self.embed(x)
        new_states = []
        for block, state in zip(self.blocks, states, strict=True):
            h, state = block(h, state)
            new_states.append(state)
        h = self.norm(h)
        if self.config.pool == "last":
            h = h[:, -1]
        elif self.config.pool == "mean":
            h = h.mean(dim=1)
        return self.head(h), new_states

    def _check_input(self, x: Tensor) -> None:
        if self.config.vocab_size:
            if x.dim() != 2 or x.dtype not in (torch.int32, torch.int64):
                raise TypeError(f"expected token ids [B, T] (int64), got {x.dim()}-D {x.dtype}")
        elif x.dim() != 3 or x.shape[-1] != self.config.d_input or not x.is_floating_point():
            raise ValueError(
                f"expected vectors [B, T, {self.config.d_input}] (float), "
                f"got {list(x.shape)} {x.dtype}"
            )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Continue token ids ``prompt [B, T]`` by ``max_new_tokens``, carrying the states.

        The prompt runs once; each new token then runs alone with the carried states.
        ``temperature = 0`` is greedy; otherwise sample from ``softmax(logits / temperature)``.
        """
        if not self.config.vocab_size or self.config.pool != "none":
            raise ValueError("generate needs a language model (vocab_size > 0, pool='none')")
        if max_new_tokens < 0 or temperature < 0:
            raise ValueError(
                f"max_new_tokens and temperature must be >= 0, got {max_new_tokens}, {temperature}"
            )
        logits, states = self(prompt)
        tokens = [prompt]
        for _ in range(max_new_tokens):
            last = logits[:, -1]
            if temperature == 0:
                nxt = last.argmax(-1, keepdim=True)
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            tokens.append(nxt)
            logits, states = self(nxt, states)
        return torch.cat(tokens, dim=1)
