"""The 1993 net's ablation and feedback options: the no-writes net in both forms, the layer spec.

``writes=False`` (modification units computed, writes not applied): the weights stay ``W_0``
(its lean form equals the scan: tests/ops/test_srnet1993_fast.py). The layer's
``layer_spec(feedback=F, eval_units=...)``: eval units are the feedback, the projection or zeros.
"""

from __future__ import annotations

import pytest
import torch

from fastweights.ops.cells import srnet1993


@pytest.mark.parametrize("impl", ["recurrent", "lean"])
def test_without_writes_the_weights_stay_and_with_them_they_move(impl: str) -> None:
    x, state, params = srnet1993.cell.example(2, 4, torch.Generator().manual_seed(1))
    _, kept = srnet1993.make_cell(srnet1993.LAYOUT, writes=False)(x, state, params, impl=impl)
    _, moved = srnet1993.make_cell(srnet1993.LAYOUT)(x, state, params, impl=impl)
    torch.testing.assert_close(kept.W, state.W, rtol=0, atol=0)
    assert (moved.W - state.W).abs().max() > 1e-3
    # the read still works without writes: val is the read of W_0, not 0
    assert kept.val.abs().max() > 0


def test_layer_spec_eval_units() -> None:
    B, T, H, d, F = 2, 3, 2, 4, 3
    raw = torch.randn(B, T, H, d)
    fb = torch.randn(B, T, F)
    spec = srnet1993.layer_spec(F)
    assert spec.feedback and spec.width(d) == d
    inputs = spec.inputs(raw, fb)
    assert torch.equal(inputs.obs, raw)
    assert torch.equal(inputs.eval, fb.unsqueeze(2).expand(B, T, H, F))
    zero = srnet1993.layer_spec(F, eval_units="zero")
    assert zero.width(d) == d and torch.equal(zero.inputs(raw, fb).eval, torch.zeros(B, T, H, F))
    # the same net size with feedback or zeros on its eval units: a fair ablation
    assert (
        spec.state(H, d, torch.Generator()).W.shape == zero.state(H, d, torch.Generator()).W.shape
    )
    default = srnet1993.LAYER  # no feedback: one eval unit from the projection, as before
    assert not default.feedback and default.width(d) == d + 1
    assert torch.equal(default.inputs(raw).eval, raw[..., -1:])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"feedback": -1}, "feedback"),
        ({"feedback": 0, "eval_units": "feedback"}, "needs feedback"),
        ({"feedback": 2, "eval_units": "both"}, "eval_units"),
        ({"feedback": 2, "writes": "no"}, "writes"),
        ({"feedback": 2, "micro_steps": 0}, "micro_steps"),
    ],
)
def test_layer_spec_rejects_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        srnet1993.layer_spec(**kwargs)
