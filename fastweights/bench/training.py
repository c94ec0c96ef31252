"""Training speed: whole steps (forward, cross-entropy, backward, AdamW) of an ``FWPModel``, eager
and through ``compile_model`` (``torch.compile(fullgraph=True)``), in one process.

The two models start from the same weights and their steps alternate (eager, compiled, eager, …),
so a change in the machine's load hits both alike; the medians are reported. The compiled model's
first step (tracing and code generation) is timed apart as ``compile_s`` and is not in its
tokens/s.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F

from fastweights.bench.measure import time_call
from fastweights.models import FWPModel, compile_model, preset_config


def _step(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        logits, _ = model(x[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def measure(
    mixer: str, preset: str, B: int, T: int, repeats: int, vocab: int = 256
) -> dict[str, object]:
    """tokens/s of eager and compiled training steps of ``preset`` with ``mixer``."""
    torch.manual_seed(0)
    eager_model = FWPModel(preset_config(preset, mixer=mixer, vocab_size=vocab))
    compiled_model = copy.deepcopy(eager_model)
    x = torch.randint(0, vocab, (B, T + 1), generator=torch.Generator().manual_seed(0))
    device = torch.device("cpu")
    torch._dynamo.reset()
    eager, compiled = _step(eager_model, x), _step(compile_model(compiled_model), x)
    eager()  # warm-up
    compile_s = time_call(compiled, device)
    compiled()
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        times["eager"].append(time_call(eager, device))
        times["compiled"].append(time_call(compiled, device))
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "mixer": mixer, "preset": preset, "B": B, "T": T, "repeats": repeats,
        "params": eager_model.num_parameters(), "compile_s": compile_s,
        "eager_s": median["eager"], "compiled_s": median["compiled"],
        "eager_tokens_per_s": B * T / median["eager"],
        "compiled_tokens_per_s": B * T / median["compiled"],
        "times": times,
    }  # fmt: skip
