"""Continuous-time FWPs (arXiv:2206.01649): Euler with unit steps is the discrete rule exactly."""

from __future__ import annotations

import math

import pytest
import torch

from fastweights.ops import RULES
from fastweights.ops.continuous import LinearPath, solve

pytest.importorskip("torchdiffeq", reason="needs torchdiffeq: pip install fastweights[ode]")

B, H, K, V, C = 2, 2, 3, 4, 5


def _slow_net(seed: int = 0) -> tuple[torch.nn.Linear, object]:
    torch.manual_seed(seed)  # nn.Linear's init takes no generator
    linear = torch.nn.Linear(C, H * (K + V + 1)).double()

    def project(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k, v, beta = linear(x).split([H * K, H * V, H], dim=-1)  # [B, H*(K+V+1)] -> three parts
        k = torch.nn.functional.normalize(k.unflatten(-1, (H, K)), dim=-1)
        return k, v.unflatten(-1, (H, V)), torch.sigmoid(beta)

    return linear, project


def _observations(n: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, n, C, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("rule", ["sum", "delta", "oja"])
def test_euler_unit_steps_equal_the_discrete_rule(rule: str) -> None:
    _, project = _slow_net()
    x = _observations(7)  # observations at times 0..6
    times = torch.arange(7, dtype=torch.float64)
    path = LinearPath(times.expand(B, -1), x)
    S0 = torch.randn(B, H, K, V, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    states = solve(rule, project, path, S0, times, method="euler", step_size=1.0)  # [7, B, H, K, V]
    k, v, beta = project(x)  # [B, 7, H, K], [B, 7, H, V], [B, 7, H]
    for t in range(1, 7):  # S(t) == t discrete steps over observations 0..t-1
        q = torch.zeros_like(k[:, :t])
        discrete = RULES[rule](
            q, k[:, :t], v[:, :t], beta[:, :t], impl="recurrent", initial_state=S0
        )
        torch.testing.assert_close(states[t], discrete.state, rtol=0, atol=1e-12)
    assert not torch.allclose(states[-1], S0)


def test_fine_steps_converge_and_dopri5_agrees() -> None:
    _, project = _slow_net()
    times = torch.tensor([0.0, 0.3, 0.35, 1.1, 2.0], dtype=torch.float64)  # irregular
    path = LinearPath(times.expand(B, -1), _observations(5))
    S0 = torch.zeros(B, H, K, V, dtype=torch.float64)
    ends = torch.tensor([0.0, 2.0], dtype=torch.float64)
    coarse = solve("delta", project, path, S0, ends, method="euler", step_size=0.05)[-1]
    fine = solve("delta", project, path, S0, ends, method="rk4", step_size=0.01)[-1]
    adaptive = solve("delta", project, path, S0, ends, method="dopri5", rtol=1e-9, atol=1e-11)[-1]
    torch.testing.assert_close(adaptive, fine, rtol=0, atol=1e-6)
    gap = float((coarse - fine).abs().max().detach())
    assert 1e-6 < gap < 0.1  # Euler's first-order error: visible, small


def test_adjoint_gradients_equal_backprop_through_the_solver() -> None:
    linear, project = _slow_net()
    times = torch.tensor([0.0, 0.5, 1.5, 2.0], dtype=torch.float64)
    path = LinearPath(times.expand(B, -1), _observations(4))
    S0 = torch.zeros(B, H, K, V, dtype=torch.float64)
    ends = torch.tensor([0.0, 2.0], dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        linear.zero_grad()
        S = solve("delta", project, path, S0, ends, method="rk4", step_size=0.02, adjoint=adjoint,
                  adjoint_params=tuple(linear.parameters()))  # fmt: skip
        (S[-1] ** 2).sum().backward()
        grads.append(linear.weight.grad.clone())
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-8)


def test_linear_path_interpolates_per_row() -> None:
    times = torch.tensor([[0.0, 1.0, 3.0], [0.0, 2.0, 4.0]])
    values = torch.tensor([[[0.0], [2.0], [6.0]], [[1.0], [1.0], [5.0]]])
    path = LinearPath(times, values)
    torch.testing.assert_close(path(2.0), torch.tensor([[4.0], [1.0]]))
    torch.testing.assert_close(path(3.0), torch.tensor([[6.0], [3.0]]))
    torch.testing.assert_close(path(-1.0), values[:, 0])  # held before the first observation
    torch.testing.assert_close(path(9.0), values[:, -1])  # and after the last
    assert math.isclose(float(path(0.5)[0]), 1.0)
    with pytest.raises(ValueError, match="increase strictly"):
        LinearPath(torch.tensor([[0.0, 0.0]]), torch.zeros(1, 2, 1))


def test_bad_arguments_are_errors() -> None:
    _, project = _slow_net()
    path = LinearPath(torch.zeros(B, 1, dtype=torch.float64), _observations(1))
    S0 = torch.zeros(B, H, K, V, dtype=torch.float64)
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown rule 'hebb'"):
        solve("hebb", project, path, S0, ends)
    with pytest.raises(ValueError, match="unknown method"):
        solve("delta", project, path, S0, ends, method="rk45")
    with pytest.raises(ValueError, match="adjoint_params"):
        solve("delta", project, path, S0, ends, adjoint=True)


@pytest.mark.parametrize("rule", ["sum", "delta"])
def test_euler_unit_steps_with_values_from_dx_equal_the_discrete_rule_on_increments(rule) -> None:
    linear, _ = _slow_net()
    torch.manual_seed(3)
    values_from_dx = torch.nn.Linear(C, H * V).double()  # the CDE variant: v = A dX/dt

    def project(x, dx):
        k, _, beta = linear(x).split([H * K, H * V, H], dim=-1)
        k = torch.nn.functional.normalize(k.unflatten(-1, (H, K)), dim=-1)
        return k, values_from_dx(dx).unflatten(-1, (H, V)), torch.sigmoid(beta)

    x = _observations(6)
    times = torch.arange(6, dtype=torch.float64)
    path = LinearPath(times.expand(B, -1), x)
    S0 = torch.zeros(B, H, K, V, dtype=torch.float64)
    S = solve(rule, project, path, S0, times, method="euler", step_size=1.0, derivative=True)[-1]
    k, v, beta = project(x[:, :-1], x[:, 1:] - x[:, :-1])  # step i writes v from x_{i+1} - x_i
    discrete = RULES[rule](k, k, v, beta, impl="recurrent", initial_state=S0)
    torch.testing.assert_close(S, discrete.state, rtol=0, atol=1e-12)


def test_linear_path_derivative_is_the_slope_of_the_next_piece() -> None:
    times = torch.tensor([[0.0, 1.0, 3.0]])
    values = torch.tensor([[[0.0], [2.0], [6.0]]])
    path = LinearPath(times, values)
    for t, slope in [(0.0, 2.0), (0.5, 2.0), (1.0, 2.0), (2.0, 2.0), (-1.0, 0.0), (3.0, 0.0)]:
        torch.testing.assert_close(path.derivative(t), torch.tensor([[slope]]))
    path = LinearPath(times, torch.tensor([[[0.0], [2.0], [3.0]]]))
    torch.testing.assert_close(
        path.derivative(1.0), torch.tensor([[0.5]])
    )  # at a knot: the next piece
