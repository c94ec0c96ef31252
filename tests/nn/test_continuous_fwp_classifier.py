"""The continuous-time FWP classifier: its Euler unit-step form is the discrete rule plus a read."""

from __future__ import annotations

import pytest
import torch

from fastweights.nn.continuous_fwp import ContinuousFWPClassifier
from fastweights.ops import RULES
from fastweights.tasks.irregular_series import IrregularSpirals

pytest.importorskip("torchdiffeq", reason="needs torchdiffeq: pip install fastweights[ode]")


def _model(**options: object) -> ContinuousFWPClassifier:
    torch.manual_seed(0)  # nn.Linear's init takes no generator
    return ContinuousFWPClassifier(3, 2, n_heads=2, d_head=4, **options).double()


def test_euler_unit_steps_equal_the_discrete_rule_then_a_read() -> None:
    model = _model(method="euler", step_size=1.0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 3, generator=generator, dtype=torch.float64)
    x[..., 0] = torch.arange(6, dtype=torch.float64)  # observations at times 0..5
    logits, state = model(x)
    q, k, v, beta = model.rule_inputs(x)
    S0 = torch.zeros(3, 2, 4, 4, dtype=torch.float64)
    discrete = RULES["delta"](q[:, :5], k[:, :5], v[:, :5], beta[:, :5], impl="recurrent",
                              scale=1.0, initial_state=S0)  # fmt: skip
    torch.testing.assert_close(state, discrete.state, rtol=0, atol=1e-12)
    read = (q[:, 5].unsqueeze(-2) @ discrete.state).squeeze(-2)  # [B, H, D]
    torch.testing.assert_close(logits, model.head(read.flatten(1)), rtol=0, atol=1e-12)
    # the discrete method reads after writing the last observation too
    discrete_logits, discrete_state = _model(method="discrete")(x)
    full = RULES["delta"](q, k, v, beta, impl="recurrent", scale=1.0, initial_state=S0)
    torch.testing.assert_close(discrete_state, full.state, rtol=0, atol=1e-12)
    torch.testing.assert_close(discrete_logits, model.head(full.o[:, -1].flatten(1)))


SLOW = pytest.mark.slow  # a few seconds each: 15 Adam steps through the solver


@pytest.mark.parametrize(
    "method", [pytest.param("rk4", marks=SLOW), pytest.param("dopri5", marks=SLOW), "discrete"]
)
def test_a_few_steps_of_training_lower_the_loss(method: str) -> None:
    torch.manual_seed(0)
    model = ContinuousFWPClassifier(3, 2, n_heads=2, d_head=8, method=method, step_size=0.5,
                                    rtol=1e-2, atol=1e-3, time_scale=8.0)  # fmt: skip
    task = IrregularSpirals(length=8)
    x, y, _ = task.sample(32, torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x)[0], y[:, -1])
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0]


def test_bad_options_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        ContinuousFWPClassifier(3, 2, method="midpoint")
    with pytest.raises(ValueError, match="unknown rule"):
        ContinuousFWPClassifier(3, 2, rule="hebb")
    with pytest.raises(ValueError, match="time_scale"):
        ContinuousFWPClassifier(3, 2, time_scale=0.0)
    with pytest.raises(ValueError, match="time_channel"):
        ContinuousFWPClassifier(3, 2, time_channel=3)
    with pytest.raises(ValueError, match="increase strictly"):
        _model()(torch.zeros(1, 3, 3, dtype=torch.float64))


def test_values_from_the_derivative_euler_unit_steps_equal_the_discrete_form() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 3, generator=generator, dtype=torch.float64)
    x[..., 0] = torch.arange(6, dtype=torch.float64) * 0.5  # times 0, 0.5, ..., 2.5
    options = {"values_from": "derivative", "time_scale": 2.0}  # unit solver steps
    model = _model(method="euler", step_size=1.0, **options)
    logits, state = model(x)
    discrete = _model(method="discrete", **options)
    assert discrete.project_dx is not None
    discrete.load_state_dict(model.state_dict())
    # the discrete form writes 6 times, the last with zero increment: v = A·0 = the bias of A
    q, k, v, beta = discrete.rule_inputs(x, torch.cat([x[:, 1:] - x[:, :-1], 0 * x[:, :1]], 1))
    S0 = torch.zeros(3, 2, 4, 4, dtype=torch.float64)
    five = RULES["delta"](q[:, :5], k[:, :5], v[:, :5], beta[:, :5], impl="recurrent",
                          scale=1.0, initial_state=S0)  # fmt: skip
    torch.testing.assert_close(state, five.state, rtol=0, atol=1e-12)
    read = (q[:, 5].unsqueeze(-2) @ five.state).squeeze(-2)  # [B, H, D]
    torch.testing.assert_close(logits, model.head(read.flatten(1)), rtol=0, atol=1e-12)
    full_logits, full_state = discrete(x)
    six = RULES["delta"](q, k, v, beta, impl="recurrent", scale=1.0, initial_state=S0)
    torch.testing.assert_close(full_state, six.state, rtol=0, atol=1e-12)
    torch.testing.assert_close(full_logits, discrete.head(six.o[:, -1].flatten(1)))
    with pytest.raises(ValueError, match="values_from"):
        ContinuousFWPClassifier(3, 2, values_from="dx")
