"""The mixer speed benchmark (`fwp bench mixers`, `fastweights.commands.bench_mixers`).

Every mixer of ``fastweights.nn.MIXERS`` (rules, cells, softmax attention, LSTM) at one size:
forward+backward of the layer on ``x [B, T, d_model]`` (the loss is the sum of the outputs and
of the final state), median of repeated runs after warm-up, tokens/s and parameters. Rows print
as they finish; one JSON object per mixer is appended to the output file, with the machine,
versions, threads, commit and environment (``fastweights.bench.measure``).
"""

from __future__ import annotations

import statistics

import torch
from torch import Tensor

from fastweights.bench.measure import time_repeats
from fastweights.nn import MIXERS


def _leaves(tree: object) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return []


def measure(
    name: str, B: int, T: int, d_model: int, heads: int, repeats: int, warmup: int,
    impl: str | None = None,
) -> dict:  # fmt: skip
    """Time forward+backward of ``MIXERS[name](d_model, heads)`` on a random ``[B, T, d_model]``."""
    torch.manual_seed(0)
    mixer = MIXERS[name](d_model, heads, **({} if impl is None else {"impl": impl}))
    x = torch.randn(B, T, d_model, requires_grad=True)

    def call() -> None:
        mixer.zero_grad(set_to_none=True)
        x.grad = None
        y, state = mixer(x)
        loss = y.sum() + sum(leaf.sum() for leaf in _leaves(state) if leaf.requires_grad)
        loss.backward()

    times = time_repeats(call, torch.device("cpu"), repeats, warmup)
    median = statistics.median(times)
    return {
        "mixer": name,
        "B": B,
        "T": T,
        "d_model": d_model,
        "heads": heads,
        "impl": getattr(mixer, "impl", None),
        "params": sum(p.numel() for p in mixer.parameters()),
        "time_s": median,
        "times_s": times,
        "tokens_per_s": B * T / median,
    }
