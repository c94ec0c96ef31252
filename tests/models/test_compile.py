"""``torch.compile(model, fullgraph=True)`` on CPU, for every mixer's default form: the compiled
forward and every parameter gradient equal eager's within a float32 budget from the data.

``aot_eager`` traces the whole model and its backward as one graph (where ``out=`` writes into
views and data-dependent shapes used to fail) for every mixer; Inductor, the default backend,
also generates the code, for the rule mixers and the baselines. Both take a while on two cores:
the slow lane.
"""

from __future__ import annotations

import pytest
import torch

from fastweights.models import FWPModel, compile_model, preset_config
from fastweights.models.model import mixer_accepts
from fastweights.nn import MIXERS
from fastweights.ops import RULES

pytestmark = pytest.mark.slow
VOCAB, T = 16, 6  # T > 4: a whole and a partial chunk of the chunk forms (chunk_size 4)
INDUCTOR = [
    *RULES,
    "dpfp",
    "delta_conv",
    "softmax",
    "lstm",
    "deltanet",
    "gated_deltanet",
    "linear_transformer",
    "transformer",
]


def _forward_backward(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    for p in model.parameters():
        p.grad = None
    logits, _ = model(x)
    logits.square().mean().backward()
    return [logits.detach(), *(p.grad for p in model.parameters())]


def _gap(name: str, backend: str) -> float:
    """The largest gap between compiled and eager (logits and every gradient), in units of its
    float32 budget: <= 1 means equal within the budget."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    chunks = {"chunk_size": 4} if "chunk_size" in mixer_accepts(name) else {}
    # one layer and few tokens: the cells' token loops and the chunk loops are unrolled into the
    # graph, so compile time grows with both (T = 20 and 2 layers took 11 min on two cores)
    config = preset_config("tiny", mixer=name, vocab_size=VOCAB, n_layers=1, **chunks)
    model = FWPModel(config)
    x = torch.randint(0, VOCAB, (2, T), generator=torch.Generator().manual_seed(1))
    eager = _forward_backward(model, x)
    compiled = _forward_backward(compile_model(model, backend=backend), x)
    eps = torch.finfo(torch.float32).eps
    # float32 reassociation: a few hundred roundings of the largest magnitude involved
    return max(
        float((got - want).abs().max() / (256 * eps * want.abs().max().clamp_min(eps)))
        for want, got in zip(eager, compiled, strict=True)
    )


@pytest.mark.parametrize("name", list(MIXERS))
def test_every_mixer_traces_as_one_graph(name: str) -> None:
    assert _gap(name, "aot_eager") <= 1.0


@pytest.mark.parametrize("name", INDUCTOR)
def test_inductor_compiles_the_rule_mixers_and_baselines(name: str) -> None:
    assert _gap(name, "inductor") <= 1.0
