"""``FWPModel``: a stack of pre-norm residual blocks around any mixer in ``MIXERS``.

    h_0 = embed(x)                      (token ids [B, T], or vectors [B, T, d_input])
    h   = h + mixer(norm(h))            (then, with mlp_ratio > 0, h = h + mlp(mlp_norm(h)))
    logits = head(norm(h))              ([B, T, n_out]; pool="last" or "mean": [B, n_out])

``block`` picks the norms, the MLP and the head (``BLOCKS``):

- ``"classic"``: LayerNorm; ``mlp(x) = W_2 gelu(W_1 x + b_1) + b_2``, hidden ``mlp_ratio·d``;
  a head with a bias; PyTorch's default init.
- ``"llama"``, as Llama and fla's models (``DeltaNetForCausalLM``, arXiv:2406.06484): RMSNorm
  ``x / sqrt(mean(x²) + norm_eps) ⊙ w``; SwiGLU (arXiv:2002.05202) ``mlp(x) = down(silu(gate(x))
  ⊙ up(x))``, no biases, hidden ``int(d·mlp_ratio·2/3)`` rounded up to a multiple of 256 (fla's
  ``GatedMLP``: three matrices, about the classic MLP's ``2·mlp_ratio·d²`` weights); a head
  without bias; embedding, MLP and head weights ~ N(0, 0.02²) (fla's init; the mixer keeps its
  own). Names map from fla's by prefix: ``model.embeddings`` -> ``embed``,
  ``model.layers.i.attn_norm`` / ``.attn`` / ``.mlp_norm`` / ``.mlp.{gate,up,down}_proj`` ->
  ``blocks.i.norm`` / ``.mixer`` / ``.mlp_norm`` / ``.mlp.{…}``, ``model.norm`` -> ``norm``,
  ``lm_head`` -> ``head``.

``mlp_hidden > 0`` sets the MLP's hidden size, for either block, instead of those rules.

``forward(x, states=None) -> (logits, states)``: one state per block, carried across calls, so
a prompt's states continue token by token (``generate``): a fast-weight model keeps O(1) memory
per new token, whatever the context length. ``forward(x [1, ΣT], cu_seqlens=...)`` (packed
documents) and ``forward(x [B, T], attention_mask=...)`` (padded ones) run every document as if
alone (``fastweights.models.packing``).

``short_conv`` (a kernel size, 0 for none) gives every block's mixer DeltaNet's short
convolution (``fastweights.nn.ShortConvolution``), for the mixers that take the option (the
``FastWeightLayer`` ones); a block's state is then a ``FastWeightState(fast, conv)``.

``feedback = F`` (vector inputs only): the last ``F`` input channels are the task's feedback
(performance information after each step, e.g. the previous step's correct answer; a task
declares ``feedback_dims``). Every arm sees them in its input map ``embed``, as ordinary input;
a mixer that takes feedback (``CellLayer`` of a cell whose spec has a variant: the 1993 net's
eval units) also receives them apart, as ``mixer(h, state, feedback=x[..., -F:])``.

``impl`` names the form every block's mixer runs (a rule's ``recurrent``, ``chunk``,
``triton_recurrent``, ``triton_chunk``; a cell's forms; ``fastweights.ops``) and ``chunk_size``
the chunk length of a chunk form; None leaves the mixer's default. A mixer without the option
(``softmax``, ``lstm``; cells have no ``chunk_size``) refuses it, and a form it lacks is an error.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from fastweights.models.packing import forward_documents
from fastweights.nn import MIXERS
from fastweights.nn.cell_layer import takes_feedback as cell_takes_feedback

POOLS = ("none", "last", "mean")
BLOCKS = ("classic", "llama")
NORM_EPS = 1e-6  # fla's default RMSNorm eps; the classic block's LayerNorm keeps PyTorch's 1e-5
INIT_STD = 0.02  # fla's initializer_range, for the llama block's embedding, MLP and head


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
    block: str = "classic"  # "classic" (LayerNorm, GELU MLP) or "llama" (RMSNorm, SwiGLU MLP)
    mlp_hidden: int = 0  # hidden size of the MLP; 0 means the block's rule from mlp_ratio
    norm_eps: float = NORM_EPS  # the llama block's RMSNorm eps
    feedback: int = 0  # the last input channels that carry the task's feedback; 0 means none

    def __post_init__(self) -> None:
        if self.mixer not in MIXERS:
            raise ValueError(f"unknown mixer {self.mixer!r}; known mixers: {', '.join(MIXERS)}")
        for name in ("d_model", "n_layers", "n_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("n_out", "vocab_size", "d_input", "mlp_ratio", "mlp_hidden"):
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
        self._check_block()
        self._check_feedback()
        self._check_short_conv()
        self._check_form()

    def _check_block(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {self.block!r}")
        if self.mlp_hidden and not self.mlp_ratio:
            raise ValueError(
                f"mlp_hidden={self.mlp_hidden} sizes an MLP that mlp_ratio=0 turns off; give "
                "mlp_ratio > 0 or mlp_hidden=0"
            )
        eps = self.norm_eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < math.inf:
            raise ValueError(f"norm_eps must be a positive finite number, got {eps!r}")
        if self.block == "classic" and eps != NORM_EPS:
            raise ValueError(
                f"norm_eps={eps!r} is the llama block's RMSNorm eps; the classic block's "
                f"LayerNorm keeps eps 1e-5 (leave norm_eps at {NORM_EPS} or use block='llama')"
            )

    def _check_feedback(self) -> None:
        value = self.feedback
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"feedback must be a non-negative integer, got {value!r}")
        if value > self.d_input:
            raise ValueError(
                f"feedback={value} channels must be among the d_input={self.d_input} input "
                "channels (vector inputs only)"
            )
        if "feedback" in self.mixer_options:
            raise ValueError("give feedback as the ModelConfig field, not in mixer_options")

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
        if self.feedback and takes_feedback(self.mixer):
            fields["feedback"] = self.feedback
        return {**self.mixer_options, **{k: v for k, v in fields.items() if v is not None}}

    @property
    def outputs(self) -> int:
        return self.n_out or self.vocab_size

    @property
    def mlp_size(self) -> int:
        """The MLP's hidden size (0: no MLP): ``mlp_hidden`` if given, else ``mlp_ratio·d``
        (classic) or fla's ``GatedMLP`` rule, ``int(d·mlp_ratio·2/3)`` rounded up to 256s."""
        if not self.mlp_ratio:
            return 0
        if self.mlp_hidden:
            return self.mlp_hidden
        if self.block == "classic":
            return self.mlp_ratio * self.d_model
        hidden = int(self.d_model * self.mlp_ratio * 2 / 3)
        return 256 * ((hidden + 255) // 256)  # rounded up to a multiple of 256


def takes_short_conv(mixer: str) -> bool:
    """Whether ``MIXERS[mixer]`` takes a ``short_conv`` option (the ``FastWeightLayer`` ones)."""
    return "short_conv" in inspect.signature(MIXERS[mixer]).parameters


def takes_feedback(mixer: str) -> bool:
    """Whether ``MIXERS[mixer]`` takes the task's feedback apart from the token (the 1993 net)."""
    return cell_takes_feedback(MIXERS[mixer])


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


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``, no biases (arXiv:2002.05202; fla's ``GatedMLP``)."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


def make_norm(config: ModelConfig) -> nn.Module:
    """The block's norm over ``d_model``: LayerNorm (classic) or RMSNorm with ``norm_eps``."""
    if config.block == "llama":
        return nn.RMSNorm(config.d_model, eps=config.norm_eps)
    return nn.LayerNorm(config.d_model)


class Block(nn.Module):
    """``h + mixer(norm(h))``, then ``h + mlp(mlp_norm(h))`` when the MLP is on."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, hidden = config.d_model, config.mlp_size
        self.norm = make_norm(config)
        self.mixer = MIXERS[config.mixer](d, config.n_heads, **config.mixer_kwargs())
        self.feedback = bool(config.feedback) and takes_feedback(config.mixer)
        self.mlp: nn.Module | None = None
        if hidden:
            self.mlp_norm = make_norm(config)
            if config.block == "llama":
                self.mlp = SwiGLU(d, hidden)
            else:
                self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(
        self, h: Tensor, state: Any = None, feedback: Tensor | None = None
    ) -> tuple[Tensor, Any]:
        if self.feedback:
            y, state = self.mixer(self.norm(h), state, feedback=feedback)
        else:
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
        self.norm = make_norm(config)
        self.head = nn.Linear(d, config.outputs, bias=config.block == "classic")
        if config.block == "llama":
            self._init_as_fla()

    def _init_as_fla(self) -> None:
        """fla's init of what the block owns: N(0, 0.02²) weights, zero biases (the input map
        of vector inputs has one); the mixers keep the init their own classes give them."""
        owned = [self.embed, self.head, *(block.mlp for block in self.blocks if block.mlp)]
        for module in owned:
            for name, parameter in module.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(parameter)
                else:
                    nn.init.normal_(parameter, mean=0.0, std=INIT_STD)

    def forward(
        self,
        x: Tensor,
        states: list[Any] | None = None,
        *,
        cu_seqlens: Tensor | None = None,
        attention_mask: Tensor | None = None,
    ) -> tuple[Tensor, list[Any]]:
        """``x [B, T]`` ids or ``[B, T, d_input]`` -> ``(logits, states)``, one state per block.

        ``cu_seqlens [N+1]`` (``x`` packed as ``[1, ΣT]``) or ``attention_mask [B, T]`` (1 =
        token, 0 = pad): each document runs alone; states per document (``models.packing``).
        """
        self._check_input(x)
        if cu_seqlens is not None or attention_mask is not None:
            if self.config.feedback:
                raise ValueError("packed or padded documents do not carry feedback channels")
            return forward_documents(self, x, states, cu_seqlens, attention_mask)
        states = states if states is not None else [None] * len(self.blocks)
        if len(states) != len(self.blocks):
            raise ValueError(
                f"expected {len(self.blocks)} states (one per block), got {len(states)}"
            )
        h = self.embed(x)  # every arm reads the feedback channels here too
        feedback = x[..., x.shape[-1] - self.config.feedback :] if self.config.feedback else None
        new_states = []
        for block, state in zip(self.blocks, states, strict=True):
            h, state = block(h, state, feedback)
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

    def generate(
        self,
        prompt: Tensor | list[Tensor],
        max_new_tokens: int,
        *,
        generator: torch.Generator | list[torch.Generator] | int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
    ) -> Tensor | list[Tensor]:
        """Continue ``prompt`` by up to ``max_new_tokens``: ``fastweights.models.generation``.

        A ``[B, T]`` tensor without ``eos_token_id`` gives ``[B, T + max_new_tokens]``; a list
        of 1-D prompts (any lengths), or an ``eos_token_id``, the list of sequences (prompt +
        new tokens, cut after EOS). ``temperature = 0`` is greedy.
        """
        from fastweights.models.generation import generate

        sequences = generate(self, prompt, max_new_tokens, generator=generator,
                             temperature=temperature, top_k=top_k, top_p=top_p,
                             eos_token_id=eos_token_id)  # fmt: skip
        if isinstance(prompt, Tensor) and eos_token_id is None:
            return torch.stack(sequences)  # [B, T + max_new_tokens]
        return sequences
