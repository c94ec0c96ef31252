"""``record(model, inputs, ...) -> Recording``: the fast weights of a run, step by step.

The model runs once, unchanged, with forward hooks on the submodules that see what each mixer's
recurrence sees: a ``RuleLayer``'s projection (``q, k, v, β`` and gates, after feature maps and
normalisation), a ``CellLayer``'s ``CellProjection`` (the cell's inputs), a
``SoftmaxAttention``'s ``qkv`` map, a ``RotaryAttention``'s ``q_proj, k_proj, v_proj`` (their
outputs concatenated, the layout of ``qkv``'s), an ``LSTMMixer``'s ``nn.LSTM``; and on each
mixer's output map, which receives the per-head outputs. The hooks return nothing (so the outputs
are exactly those of an unhooked run) and are removed afterwards, even on error. Then each kept
layer is replayed with its own one-token ``step`` on the kept sample
(``fastweights.analysis.replay``); ``meta["replay_error"]`` of each layer is the largest
difference between the replayed and the hooked outputs.

Memory is bounded by the subset: one sample (``sample``), the kept heads (``heads``), every
n-th step (``every``, always including the last): a layer keeps ``T' · H' · V · K`` weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fastweights.analysis.recording import LayerRecording, Recording
from fastweights.analysis.replay import (
    Replay,
    replay_attention,
    replay_cell,
    replay_lstm,
    replay_rule,
)
from fastweights.models.model import FWPModel
from fastweights.nn import CellLayer, LSTMMixer, RuleLayer, SoftmaxAttention
from fastweights.nn.transformer import RotaryAttention


def kept_steps(length: int, every: int) -> Tensor:
    """``0, every, 2·every, ...`` and always ``length − 1``: the steps a recording keeps."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    steps = list(range(0, length, every))
    if steps[-1] != length - 1:
        steps.append(length - 1)
    return torch.tensor(steps, dtype=torch.long)


def mixer_kind(mixer: nn.Module) -> str:
    """``"rule"``, ``"cell"``, ``"attention"`` or ``"lstm"``: how a mixer is recorded."""
    for cls, kind in ((RuleLayer, "rule"), (CellLayer, "cell"),
                      (SoftmaxAttention, "attention"), (RotaryAttention, "attention"),
                      (LSTMMixer, "lstm")):  # fmt: skip
        if isinstance(mixer, cls):
            return kind
    raise TypeError(f"cannot record a mixer of type {type(mixer).__name__}")


def _one(x: Any, sample: int) -> Any:
    """The kept sample of a tensor, dict or NamedTuple of tensors, detached: ``[B, ...] ->
    [1, ...]`` (None, e.g. ``RuleInputs.conv`` without a short convolution, stays None)."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x[sample : sample + 1].detach().clone()
    if isinstance(x, dict):
        return {name: _one(value, sample) for name, value in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_one(field, sample) for field in x))
    raise TypeError(f"cannot record a mixer input of type {type(x).__name__}")


def _hooked_maps(mixer: nn.Module, kind: str) -> tuple[list[nn.Module], nn.Module | None]:
    """The submodules whose outputs are what the mixer's recurrence reads, and its output map."""
    if isinstance(mixer, RotaryAttention):  # q, k, v from three maps, in that order
        return [mixer.q_proj, mixer.k_proj, mixer.v_proj], mixer.o_proj
    sees = {"rule": "project", "cell": "project", "attention": "qkv", "lstm": "lstm"}[kind]
    return [getattr(mixer, sees)], None if kind == "lstm" else mixer.out


class _Capture:
    """Hooks on one mixer: what its recurrence reads (``seen``) and its per-head output."""

    def __init__(self, mixer: nn.Module, kind: str, sample: int) -> None:
        maps, out_map = _hooked_maps(mixer, kind)
        self.seen: list[list[Any]] = [[] for _ in maps]  # one list per hooked map
        self.out: list[Tensor] = []

        def on_input(part: int, args: tuple[Any, ...], output: Any) -> None:
            # the LSTM's output is (y, (h, c)): y is what the mixer returns; its input is x
            self.seen[part].append(_one(args[0] if kind == "lstm" else output, sample))
            if kind == "lstm":
                self.out.append(_one(output[0], sample))

        def on_output(module: nn.Module, args: tuple[Any, ...]) -> None:
            self.out.append(_one(args[0], sample))  # the output map's input: [B, T, H·V]

        self.handles = [
            m.register_forward_hook(lambda _, args, output, i=i: on_input(i, args, output))
            for i, m in enumerate(maps)
        ]
        if out_map is not None:
            self.handles.append(out_map.register_forward_pre_hook(on_output))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def single(self, layer: int) -> tuple[Any, Tensor]:
        runs = {len(seen) for seen in self.seen} | {len(self.out)}
        if runs != {1}:
            raise RuntimeError(
                f"layer {layer}'s mixer ran {max(runs)} times in one forward; expected once"
            )
        # several maps (q, k, v of a RotaryAttention): concatenated, [1, T, 3·d] like ``qkv``'s
        seen = [s[0] for s in self.seen]
        return seen[0] if len(seen) == 1 else torch.cat(seen, dim=-1), self.out[0]


def _check_indices(name: str, given: Sequence[int] | None, count: int) -> list[int]:
    if given is None:
        return list(range(count))
    if isinstance(given, int) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in given
    ):
        raise TypeError(f"{name} must be a sequence of ints, got {given!r}")
    bad = [i for i in given if not 0 <= i < count]
    if bad or not given or len(set(given)) != len(given):
        raise ValueError(f"{name} must be distinct indices in 0..{count - 1}, got {list(given)}")
    return list(given)


def as_batch(model: FWPModel, inputs: Tensor) -> Tensor:
    """``inputs`` as a batch: one sequence (``[T]`` ids or ``[T, d_input]``) gets a batch dim."""
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    single = 1 if model.config.vocab_size else 2  # [T] ids or [T, d_input] vectors
    return inputs.unsqueeze(0) if inputs.dim() == single else inputs


def _labels(ids: Tensor, tokens: Sequence[str] | None, task: Any) -> list[str] | None:
    if tokens is not None:
        return [str(t) for t in tokens]
    if ids.is_floating_point():
        return None
    symbols = getattr(task, "symbols", None)
    pad = getattr(task, "pad_id", None)
    names = {i: s for i, s in enumerate(symbols)} if symbols is not None else {}
    if pad is not None:
        names[pad] = "<pad>"
    return [names.get(i, str(i)) for i in ids.tolist()]


def _task_meta(task: Any) -> dict[str, Any]:
    if task is None:
        return {}
    config = dataclasses.asdict(task) if dataclasses.is_dataclass(task) else {}
    return {"task": type(task).__name__, "task_config": config}


def record(
    model: FWPModel,
    inputs: Tensor,
    *,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    sample: int = 0,
    every: int = 1,
    tokens: Sequence[str] | None = None,
    task: Any = None,
) -> Recording:
    """Run ``model`` on ``inputs`` and record the kept layers on one sample.

    ``inputs``: ``[B, T]`` ids / ``[B, T, d_input]`` vectors (or one sequence ``[T]`` /
    ``[T, d_input]``); ``sample`` picks the batch element kept; ``layers``/``heads`` the blocks
    and heads (default all); ``every`` keeps every n-th step and the last. ``tokens`` labels the
    steps (else the ``task``'s ``symbols`` where it has them, else the ids).
    """
    if not isinstance(model, FWPModel):
        raise TypeError(f"model must be an FWPModel, got {type(model).__name__}")
    x = as_batch(model, inputs)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < x.shape[0]:
        raise ValueError(f"sample must be an index in 0..{x.shape[0] - 1}, got {sample!r}")
    blocks = _check_indices("layers", layers, len(model.blocks))
    kept_heads = _check_indices("heads", heads, model.config.n_heads)
    steps = kept_steps(x.shape[1], every)
    mixers = {i: model.blocks[i].mixer for i in blocks}
    kinds = {i: mixer_kind(mixer) for i, mixer in mixers.items()}
    if tokens is not None and len(tokens) != x.shape[1]:
        raise ValueError(f"tokens must label each of the {x.shape[1]} steps, got {len(tokens)}")

    captures: dict[int, _Capture] = {}
    try:
        for i, mixer in mixers.items():
            captures[i] = _Capture(mixer, kinds[i], sample)
        with torch.no_grad():
            logits, _ = model(x)
    finally:
        for capture in captures.values():
            capture.remove()

    recorded = {}
    with torch.no_grad():
        for i, mixer in mixers.items():
            seen, out = captures[i].single(i)
            replay = _replay(mixer, kinds[i], seen, out, steps, kept_heads)
            recorded[i] = LayerRecording(
                layer=i, mixer=model.config.mixer, kind=kinds[i], steps=steps.numpy(),
                heads=[0] if kinds[i] == "lstm" else kept_heads,
                inputs={name: _np(a) for name, a in replay.inputs.items()},
                weights=_np(replay.weights), attention=_np(replay.attention),
                output=_np(replay.output),
                state={name: _np(a) for name, a in replay.state.items()}, meta=replay.meta,
            )  # fmt: skip
    meta = {"model": dataclasses.asdict(model.config), "sample": sample, "every": every,
            "heads": kept_heads, "layers": blocks, "mixer": model.config.mixer,
            "batch_size": int(x.shape[0])} | _task_meta(task)  # fmt: skip
    ids = x[sample]
    return Recording(
        _labels(ids, tokens, task), _np(ids), _np(logits[sample]), recorded, meta,
    )  # fmt: skip


def _np(x: Tensor | None) -> np.ndarray | None:
    return None if x is None else x.detach().cpu().numpy()


def _replay(
    mixer: nn.Module, kind: str, seen: Any, out: Tensor, steps: Tensor, heads: list[int]
) -> Replay:
    if kind == "rule":
        return replay_rule(mixer, seen, out, steps, heads)
    if kind == "cell":
        return replay_cell(mixer, seen, out, steps, heads)
    if kind == "attention":
        return replay_attention(mixer, seen, out, steps, heads)
    return replay_lstm(mixer, seen, out, steps)
