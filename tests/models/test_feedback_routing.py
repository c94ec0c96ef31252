"""``ModelConfig.feedback``: the last F input channels reach the 1993 net's eval units apart,
and every arm's input map; token by token equals parallel; bad configurations are refused."""

from __future__ import annotations

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.models.model import takes_feedback


def _config(mixer: str = "srnet1993", **fields) -> ModelConfig:
    base = {"d_model": 8, "n_layers": 2, "n_heads": 2, "d_input": 5, "n_out": 3, "feedback": 2}
    return ModelConfig(mixer=mixer, **{**base, **fields})


def test_the_eval_units_receive_the_last_input_channels() -> None:
    torch.manual_seed(0)
    model = FWPModel(_config())
    seen = []
    for block in model.blocks:
        block.mixer.project.register_forward_hook(lambda m, args, out: seen.append(out))
    x = torch.randn(3, 4, 5)
    model(x)
    assert len(seen) == 2
    for inputs in seen:  # [B, T, H, F]: every head's net gets the feedback on its eval units
        assert torch.equal(inputs.eval, x[..., 3:].unsqueeze(2).expand(3, 4, 2, 2))


@pytest.mark.parametrize("mixer", ["srnet1993", "srwm", "deltanet", "lstm"])
def test_every_arm_reads_the_feedback(mixer: str) -> None:
    torch.manual_seed(0)
    model = FWPModel(_config(mixer))
    x = torch.randn(2, 5, 5)
    changed = x.clone()
    changed[:, 2, 3:] += 1.0
    y, _ = model(x)
    y2, _ = model(changed)
    assert torch.equal(y[:, :2], y2[:, :2])  # causal
    assert (y[:, 2:] - y2[:, 2:]).abs().max() > 1e-4
    assert takes_feedback(mixer) == (mixer == "srnet1993")


@pytest.mark.parametrize("options", [{}, {"writes": False}, {"eval_units": "zero"}])
def test_token_by_token_equals_parallel_with_feedback(options: dict) -> None:
    torch.manual_seed(1)
    model = FWPModel(_config(mixer_options=options)).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    full, _ = model(x)
    states, parts = None, []
    for t in range(6):
        y, states = model(x[:, t : t + 1], states)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-10, atol=1e-10)


def test_eval_zeroed_ignores_the_eval_route_but_not_the_input_map() -> None:
    torch.manual_seed(2)
    model = FWPModel(_config(mixer_options={"eval_units": "zero"}))
    seen = []
    model.blocks[0].mixer.project.register_forward_hook(lambda m, args, out: seen.append(out))
    model(torch.randn(2, 3, 5))
    assert torch.equal(seen[0].eval, torch.zeros(2, 3, 2, 2))


def test_ablations_keep_the_size() -> None:
    sizes = {
        FWPModel(_config(mixer_options=o)).num_parameters()
        for o in ({}, {"writes": False}, {"eval_units": "zero"})
    }
    assert len(sizes) == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"feedback": 6}, "feedback=6"),
        ({"feedback": -1}, "feedback"),
        ({"feedback": 2, "mixer_options": {"feedback": 2}}, "ModelConfig field"),
    ],
)
def test_bad_feedback_configs(fields: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _config(**fields)


def test_token_inputs_have_no_feedback_and_other_cells_no_options() -> None:
    with pytest.raises(ValueError, match="feedback"):
        ModelConfig(mixer="srnet1993", vocab_size=10, feedback=1)
    with pytest.raises(ValueError, match="takes no feedback and no options"):
        FWPModel(_config("srwm", mixer_options={"writes": False}))
    with pytest.raises(ValueError, match="packed or padded"):
        FWPModel(_config())(torch.randn(1, 4, 5), cu_seqlens=torch.tensor([0, 2, 4]))


def test_the_layer_refuses_missing_feedback() -> None:
    model = FWPModel(_config())
    mixer = model.blocks[0].mixer
    with pytest.raises(ValueError, match="takes feedback"):
        mixer(torch.randn(1, 2, 8))
    plain = FWPModel(_config(feedback=0)).blocks[0].mixer
    with pytest.raises(ValueError, match="without feedback"):
        plain(torch.randn(1, 2, 8), feedback=torch.randn(1, 2, 2))
