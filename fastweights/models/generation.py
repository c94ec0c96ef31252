"""Generation from a language model: batches of prompts, sampling, streaming.

``stream(model, prompts, max_new_tokens, ...)`` yields every new token as it comes
(``NewToken(sequence, token)``); ``generate(...)`` collects them into the sequences, prompt +
continuation, each cut after its ``eos_token_id``. ``prompts`` is a list of 1-D id tensors of any
lengths or a ``[B, T]`` tensor.

Sampling: ``temperature = 0`` is greedy (the argmax; it takes neither ``top_k`` nor ``top_p``);
otherwise ``p = softmax(logits / temperature)``, cut to the ``top_k`` most likely tokens, then
to the nucleus (the fewest most likely tokens whose mass reaches ``top_p``, arXiv:1904.09751),
renormalised (``next_token_distribution``). A token is drawn by the inverse CDF of that
distribution at one uniform from the sequence's own generator, on the CPU in float64.

Per-sequence determinism: sequence ``i`` draws only from its own generator, one uniform per
sampled token, whatever the batch, the other sequences or ``top_k``/``top_p``; so a prompt's
continuation equals generating it alone with the same generator (up to the model's own batch
invariance, which is exact for every mixer here in tests). ``generator`` is a list of CPU
generators (one per sequence), an int seed (sequence ``i``: ``manual_seed(seed + i)``, so it
equals that prompt alone with seed ``seed + i``), a ``torch.Generator`` (one seed drawn from it,
then as that int) or None (the seed drawn from torch's default generator).

States: prompts of one length run their prefill together as one batch; every group's states
are then joined along the batch dim (dim 0; ``nn.LSTM``'s ``(h, c) [1, B, d]``: dim 1) when
they agree in every other dim, as every fast-weight state (tensors, ``FastWeightState``, cells'
NamedTuples) does, and the batch decodes one token per step with the carried states: memory
constant in the generated length (``state_bytes``). Key/value caches (``softmax``,
``transformer``) of different prompt lengths do not agree, so each group then decodes as its
own batch: exact, without padding. A sequence that emits EOS leaves its batch; generation stops
when all have stopped or after ``max_new_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from fastweights.nn import LSTMMixer

Prompts = Tensor | Sequence[Tensor]
Generators = torch.Generator | Sequence[torch.Generator] | int | None


class NewToken(NamedTuple):
    """One generated token: the index of its prompt and the token id."""

    sequence: int
    token: int


def generate(
    model: nn.Module,
    prompts: Prompts,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    generator: Generators = None,
) -> list[Tensor]:
    """The sequences (1-D, prompt + new tokens, cut after EOS), one per prompt, on the
    prompts' devices; the options as ``stream``'s."""
    rows = check_prompts(model, prompts)
    new: list[list[int]] = [[] for _ in rows]
    options = dict(temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=eos_token_id)
    for sequence, token in stream(model, rows, max_new_tokens, generator=generator, **options):
        new[sequence].append(token)
    return [
        torch.cat([p, p.new_tensor(n, dtype=torch.long)]) for p, n in zip(rows, new, strict=True)
    ]


def stream(
    model: nn.Module,
    prompts: Prompts,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    generator: Generators = None,
) -> Iterator[NewToken]:
    """Yield each new token as it comes: per step, one ``NewToken`` per running sequence, in
    the order of the prompts; the EOS token is yielded, then that sequence stops. Bad input
    raises here, before the first token."""
    rows = check_prompts(model, prompts)
    vocab = model.config.vocab_size
    check_options(max_new_tokens, temperature, top_k, top_p)
    if eos_token_id is not None and not _is_index(eos_token_id, vocab):
        raise ValueError(f"eos_token_id must be a token id in 0..{vocab - 1}, got {eos_token_id!r}")
    generators = sequence_generators(generator, len(rows)) if temperature > 0 else []
    sample = dict(temperature=temperature, top_k=top_k, top_p=top_p)
    return _decode(model, rows, max_new_tokens, sample, eos_token_id, generators)


@torch.no_grad()
def _decode(
    model: nn.Module,
    rows: list[Tensor],
    max_new_tokens: int,
    sample: dict[str, Any],
    eos: int | None,
    generators: list[torch.Generator],
) -> Iterator[NewToken]:
    if max_new_tokens == 0:
        return
    dims = [1 if isinstance(block.mixer, LSTMMixer) else 0 for block in model.blocks]
    device = next(model.parameters()).device
    batches = _join(_prefill(model, rows, device), dims)
    for step in range(max_new_tokens):
        events = []
        for batch in batches:
            logits = batch.logits.to("cpu", torch.float64)  # [b, V]
            for row, sequence in enumerate(batch.rows):
                probs = next_token_distribution(logits[row], **sample)
                events.append(NewToken(sequence, _draw(probs, generators, sequence)))
        events.sort()
        yield from events
        if step == max_new_tokens - 1:
            return
        token_of = dict(events)
        batches = [_advance(model, b, token_of, eos, dims) for b in batches]
        batches = [b for b in batches if b is not None]
        if not batches:
            return


def next_token_distribution(
    logits: Tensor, temperature: float, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """``logits [V]`` -> the probabilities ``[V]`` (float64) that a token is drawn from."""
    logits = logits.double()
    if temperature == 0:
        return nn.functional.one_hot(logits.argmax(), logits.numel()).double()
    probs = torch.softmax(logits / temperature, dim=-1)
    order = torch.argsort(probs, descending=True, stable=True)  # ties: the lower id first
    ranked = probs[order]
    keep = torch.ones_like(ranked, dtype=torch.bool)
    if top_k is not None:
        keep[top_k:] = False
    if top_p is not None and top_p < 1:
        kept = torch.where(keep, ranked, 0.0)
        kept = kept / kept.sum()
        keep &= (torch.cumsum(kept, 0) - kept) < top_p  # the mass before a token is below top_p
    ranked = torch.where(keep, ranked, 0.0)
    out = torch.zeros_like(probs)
    out[order] = ranked / ranked.sum()
    return out


def sequence_generators(generator: Generators, n: int) -> list[torch.Generator]:
    """One CPU generator per sequence (see the module docstring for each kind)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != n:
            raise ValueError(f"expected {n} generators (one per prompt), got {len(generator)}")
        for g in generator:
            if not isinstance(g, torch.Generator) or g.device.type != "cpu":
                raise TypeError(f"generators must be CPU torch.Generators, got {g!r}")
        return list(generator)
    if generator is None or isinstance(generator, torch.Generator):
        if generator is not None and generator.device.type != "cpu":
            raise TypeError(f"the generator must be a CPU generator, got {generator.device}")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    elif isinstance(generator, int) and not isinstance(generator, bool):
        seed = generator
    else:
        raise TypeError(f"generator must be a torch.Generator, a list of them, an int seed or "
                        f"None, got {type(generator).__name__}")  # fmt: skip
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def state_bytes(states: Any) -> int:
    """The bytes of every tensor in ``states`` (a model's list of per-block states)."""
    if isinstance(states, Tensor):
        return states.numel() * states.element_size()
    if isinstance(states, dict):
        return sum(state_bytes(s) for s in states.values())
    if isinstance(states, (tuple, list)):
        return sum(state_bytes(s) for s in states)
    return 0


def check_prompts(model: nn.Module, prompts: Prompts) -> list[Tensor]:
    """The prompts as a list of 1-D int64 tensors, each non-empty and inside the vocabulary."""
    config = model.config
    if not config.vocab_size or config.pool != "none" or config.outputs != config.vocab_size:
        raise ValueError("generation needs a language model (vocab_size > 0, pool='none', "
                         f"n_out 0 or vocab_size), got {config}")  # fmt: skip
    if isinstance(prompts, Tensor):
        if prompts.dim() != 2:
            raise ValueError(f"a prompt tensor must be [B, T], got {list(prompts.shape)}; give "
                             "prompts of different lengths as a list of 1-D tensors")  # fmt: skip
        prompts = list(prompts)
    elif not isinstance(prompts, (list, tuple)):
        raise TypeError(f"prompts must be a [B, T] tensor or a list of 1-D tensors, got "
                        f"{type(prompts).__name__}")  # fmt: skip
    if not prompts:
        raise ValueError("no prompts given")
    vocab = config.vocab_size
    for i, p in enumerate(prompts):
        if not isinstance(p, Tensor) or p.dim() != 1:
            shape = list(p.shape) if isinstance(p, Tensor) else type(p).__name__
            raise TypeError(f"prompt {i} must be a 1-D tensor of token ids, got {shape}")
        if p.is_floating_point() or p.is_complex() or p.dtype == torch.bool:
            raise TypeError(f"prompt {i} must hold integer token ids, got {p.dtype}")
        if p.numel() == 0:
            raise ValueError(f"prompt {i} is empty: a prompt needs at least one token")
        low, high = int(p.min()), int(p.max())
        if low < 0 or high >= vocab:
            raise ValueError(f"prompt {i} holds ids outside the vocabulary 0..{vocab - 1} "
                             f"(min {low}, max {high})")  # fmt: skip
    return [p.long() for p in prompts]


def check_options(
    max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None
) -> None:
    if not _is_index(max_new_tokens, math.inf):
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not (0 <= temperature < math.inf)
    ):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not _is_index(top_k, math.inf) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1
    ):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")
    if temperature == 0 and (top_k is not None or top_p is not None):
        raise ValueError("temperature=0 is greedy and takes neither top_k nor top_p; give a "
                         "temperature > 0 to sample from the top-k / nucleus")  # fmt: skip


def _is_index(value: Any, stop: float) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < stop


def _draw(probs: Tensor, generators: list[torch.Generator], sequence: int) -> int:
    """The token at one uniform of the sequence's generator (greedy: no draw)."""
    if not generators:
        return int(probs.argmax())
    u = torch.rand((), generator=generators[sequence], dtype=torch.float64)
    cdf = torch.cumsum(probs, 0)
    token = int(torch.searchsorted(cdf, u * cdf[-1], right=True))  # skips zero-mass tokens
    return min(token, int(probs.nonzero().max()))  # u · cdf[-1] may round up to cdf[-1]


@dataclass
class _Batch:
    rows: list[int]  # the sequence of each row
    logits: Tensor  # [b, V], each row's next-token logits
    states: list[Any]  # one per block, batch dim b


def _prefill(model: nn.Module, prompts: list[Tensor], device: torch.device) -> list[_Batch]:
    """One batch per prompt length (in order of first appearance), prompt run once."""
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(p.numel(), []).append(i)
    batches = []
    for rows in groups.values():
        x = torch.stack([prompts[i] for i in rows]).to(device)  # [b, T]
        logits, states = model(x)
        batches.append(_Batch(rows, logits[:, -1], states))
    return batches


def _advance(
    model: nn.Module, batch: _Batch, token_of: dict[int, int], eos: int | None, dims: list[int]
) -> _Batch | None:
    """The batch after its new tokens: the stopped rows out, the others one step on."""
    keep = [r for r, s in enumerate(batch.rows) if token_of[s] != eos]
    if not keep:
        return None
    rows, states = [batch.rows[r] for r in keep], batch.states
    if len(keep) < len(batch.rows):
        index = torch.tensor(keep, device=batch.logits.device)
        states = [
            _map(lambda t, d=d: t.index_select(d, index), s)
            for s, d in zip(states, dims, strict=True)
        ]
    x = torch.tensor([[token_of[s]] for s in rows], device=batch.logits.device)  # [b, 1]
    logits, states = model(x, states)
    return _Batch(rows, logits[:, -1], states)


def _join(batches: list[_Batch], dims: list[int]) -> list[_Batch]:
    """The batches as one, their states joined along each block's batch dim, where every state
    tensor agrees in its other dims; else unchanged (caches of different lengths)."""
    shapes = [
        [_spec(s, d, len(b.rows)) for s, d in zip(b.states, dims, strict=True)] for b in batches
    ]
    if len(batches) == 1 or any(s != shapes[0] for s in shapes):
        return batches
    states = [
        _map(lambda *ts, d=d: torch.cat(ts, d), *(b.states[i] for b in batches))
        for i, d in enumerate(dims)
    ]
    rows = [r for b in batches for r in b.rows]
    return [_Batch(rows, torch.cat([b.logits for b in batches]), states)]


def _spec(state: Any, dim: int, b: int) -> Any:
    """The structure of ``state`` with each tensor's shape less its batch dim (checked: ``b``)."""
    if isinstance(state, Tensor):
        if state.dim() <= dim or state.shape[dim] != b:
            raise ValueError(f"a state tensor {list(state.shape)} has no batch dim {dim} of size "
                             f"{b}; generation needs batch-first states")  # fmt: skip
        return (*state.shape[:dim], *state.shape[dim + 1 :], state.dtype, state.device)
    if state is None:
        return None
    if isinstance(state, dict):
        return (dict, tuple((k, _spec(v, dim, b)) for k, v in state.items()))
    if isinstance(state, (tuple, list)):
        return (type(state), tuple(_spec(s, dim, b) for s in state))
    raise TypeError(f"a state must hold tensors (in tuples, lists, dicts), got {type(state)}")


def _map(fn: Any, *states: Any) -> Any:
    """``fn`` over the tensors of states of one structure, which it keeps."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return fn(*states)
    if isinstance(first, dict):
        return {k: _map(fn, *(s[k] for s in states)) for k in first}
    parts = [_map(fn, *children) for children in zip(*states, strict=True)]
    return type(first)(*parts) if hasattr(first, "_fields") else type(first)(parts)
