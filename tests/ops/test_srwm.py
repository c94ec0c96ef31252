"""Known answers for the self-referential weight matrix, Fake SR and SR-Delta."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastweights.ops import CELLS, RULES
from fastweights.ops.cells import sr_delta, srwm

TOL = {"rtol": 1e-12, "atol": 1e-12}


def _inputs(d: int = 3, T: int = 4, seed: int = 0) -> tuple[torch.Tensor, srwm.State]:
    x, state, _ = srwm.example(1, T, torch.Generator().manual_seed(seed), heads=1, d=d)
    return x, state


def _paper_srwm(x: torch.Tensor, state: srwm.State) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's equations on one stacked matrix W = [W_y; W_q; W_k; w_bᵀ], row by row."""
    d = x.shape[-1]
    W = torch.cat([state.W_y[0, 0], state.W_q[0, 0], state.W_k[0, 0], state.w_b[0, 0].T])
    rows_of_rate = [0] * d + [1] * d + [2] * d + [3] * 4
    ys = []
    for t in range(x.shape[1]):
        x_t = x[0, t, 0]
        out = W @ x_t
        y, q, k, beta = (
            out[:d],
            out[d : 2 * d].softmax(0),
            out[2 * d : 3 * d].softmax(0),
            out[3 * d :],
        )
        beta = torch.sigmoid(beta)
        v, v_bar = W @ q, W @ k
        new = W.clone()
        for r in range(W.shape[0]):
            new[r] = W[r] + beta[rows_of_rate[r]] * (v[r] - v_bar[r]) * k
        W = new
        ys.append(y)
    return torch.stack(ys), W


def test_step_matches_the_papers_equations() -> None:
    x, state = _inputs()
    y, final = CELLS["srwm"](x, state, impl="recurrent")
    y_paper, W_paper = _paper_srwm(x, state)
    torch.testing.assert_close(y[0, :, 0], y_paper, **TOL)
    W = torch.cat([final.W_y[0, 0], final.W_q[0, 0], final.W_k[0, 0], final.w_b[0, 0].T])
    torch.testing.assert_close(W, W_paper, **TOL)


def test_step_signature_and_state_shapes() -> None:
    x, state = _inputs(d=5)
    y_t, new = srwm.step(state, x[:, 0])  # the contract: step(state, x_t) -> (y_t, state)
    assert y_t.shape == (1, 1, 5)
    assert [tuple(t.shape) for t in new] == [(1, 1, 5, 5)] * 3 + [(1, 1, 5, 4)]
    torch.testing.assert_close(y_t, (state.W_y @ x[:, 0].unsqueeze(-1)).squeeze(-1), **TOL)


def test_zero_learning_rates_leave_a_fixed_linear_map() -> None:
    x, state = _inputs(T=6)
    x = x.softmax(-1)  # the paper's input softmax: Σ x = 1, so w_bᵀ x = −200 exactly
    state = state._replace(w_b=torch.full_like(state.w_b, -200.0))  # σ(−200) ≈ 1e-87
    y, final = CELLS["srwm"](x, state, impl="recurrent")
    expected = (state.W_y.unsqueeze(1) @ x.unsqueeze(-1)).squeeze(-1)  # y_t = W_y0 x_t
    torch.testing.assert_close(y, expected, **TOL)
    for a, b in zip(final, state, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_fake_srwm_is_the_static_output_matrix() -> None:
    x, state = _inputs(T=5)
    y, final = CELLS["fake_srwm"](x, state, impl="recurrent")
    torch.testing.assert_close(y, (state.W_y.unsqueeze(1) @ x.unsqueeze(-1)).squeeze(-1), **TOL)
    assert all(a is b for a, b in zip(final, state, strict=True))


def test_sr_delta_with_a_frozen_srwm_is_a_deltanet() -> None:
    gen = torch.Generator().manual_seed(3)
    x, state, _ = sr_delta.example(2, 6, gen, heads=2, d=4)
    x = x.softmax(-1)
    state = state._replace(w_b=torch.full_like(state.w_b, -200.0))
    y, final = CELLS["sr_delta"](x, state, impl="recurrent")
    programmed = (state.W_y.unsqueeze(1) @ x.unsqueeze(-1)).squeeze(-1)  # [B, T, H, 3D+1]
    q, k, v, beta = programmed.split([4, 4, 4, 1], dim=-1)

    def phi(z: torch.Tensor) -> torch.Tensor:
        z = F.elu(z) + 1
        return z / z.sum(-1, keepdim=True)

    expected = RULES["delta"](
        phi(q), phi(k), v, torch.sigmoid(beta[..., 0]), impl="recurrent", scale=1.0,
        initial_state=state.S,
    )  # fmt: skip
    torch.testing.assert_close(y, expected.o, **TOL)
    torch.testing.assert_close(final.S, expected.state, **TOL)
    torch.testing.assert_close(final.W_y, state.W_y, **TOL)
