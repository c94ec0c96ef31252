"""Recurrent FWP cells (arXiv:2106.06295): oracles, carried state, batches, gradients, docs.

The oracles below are written from the paper's equations in the paper's orientation (``W`` is
``[V, K]``, ``o = W q``), with their own delta-rule write and read, independently of the cells'
steps (which store ``S = Wᵀ`` and reuse ``fastweights.ops.rules.delta.step``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES
from fastweights.ops.cell import Cell, scan
from fastweights.ops.cells import delta_delta, delta_lstm, delta_mlp, delta_rnn, rdn

CELLS: dict[str, Cell] = {
    "delta_rnn": delta_rnn.cell,
    "delta_rnn_v1": delta_rnn.cell_v1,
    "delta_lstm": delta_lstm.cell,
    "rdn": rdn.cell,
    "delta_mlp": delta_mlp.cell,
    "delta_delta": delta_delta.cell,
}
DOC = Path(__file__).resolve().parents[2] / "docs" / "recurrent-fwp.md"


# --- the paper's equations, written independently ----------------------------------------------


def _T(W: Tensor) -> Tensor:
    return W.transpose(-1, -2)


def _write(W: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """Delta rule in paper orientation: ``W [B, H, V, K] += β (v − W k) ⊗ k``."""
    v_old = torch.einsum("bhvk,bhk->bhv", W, k)
    return W + beta[..., None, None] * torch.einsum("bhv,bhk->bhvk", v - v_old, k)


def _read(W: Tensor, q: Tensor) -> Tensor:
    return torch.einsum("bhvk,bhk->bhv", W, q)


def _softmax(x: Tensor) -> Tensor:
    e = torch.exp(x - x.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def _sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))


def _phi(x: Tensor) -> Tensor:
    f = torch.where(x > 0, x + 1, torch.exp(x))  # elu(x) + 1
    return f / f.sum(-1, keepdim=True)


def oracle_delta_rnn(x: Any, state: Any, params: None, *, v1: bool = False) -> tuple:
    W, R, y = _T(state.S), _T(state.R), state.y
    ys = []
    for t in range(x.q.shape[1]):
        W = _write(W, x.k[:, t], x.v[:, t], x.beta[:, t])
        z = _read(W, x.q[:, t])
        R = _write(R, x.k_rec[:, t], x.v_rec[:, t], x.beta_rec[:, t])
        y = _softmax(z + _read(R, y)) if v1 else z + _read(R, _softmax(y))
        ys.append(y)
    return torch.stack(ys, 1), (_T(W), _T(R), y)


def oracle_delta_lstm(x: Any, state: Any, params: None) -> tuple:
    W = [_T(state.S_i), _T(state.S_u), _T(state.S_o)]
    R = [_T(state.R_i), _T(state.R_u), _T(state.R_o)]
    h, c = state.h, state.c
    ys = []
    for t in range(x.q.shape[1]):
        s = _softmax(h)
        pre = []
        for g in range(3):
            W[g] = _write(W[g], x.k[:, t, :, g], x.v[:, t, :, g], x.beta[:, t, :, g])
            R[g] = _write(R[g], x.k_rec[:, t, :, g], x.v_rec[:, t, :, g], x.beta_rec[:, t, :, g])
            pre.append(_read(W[g], x.q[:, t, :, g]) + _read(R[g], s))
        i, u, o = _sigmoid(pre[0]), pre[1], _sigmoid(pre[2])
        c = i * u + (1 - i) * c
        h = o * c
        ys.append(h)
    return torch.stack(ys, 1), (*map(_T, W), *map(_T, R), h, c)


def oracle_rdn(x: Any, state: Any, params: Any) -> tuple:
    # paper orientation of the slow recurrent matrices: [out, in], applied as R s
    Rq, Rk, Rv = (_T(R) for R in (params.R_q, params.R_k, params.R_v))
    W, y = _T(state.S), state.y
    ys = []
    for t in range(x.q.shape[1]):
        s = torch.tanh(y)
        q = _softmax(x.q[:, t] + torch.einsum("hji,bhi->bhj", Rq, s))
        k = _softmax(x.k[:, t] + torch.einsum("hji,bhi->bhj", Rk, s))
        v = x.v[:, t] + torch.einsum("hji,bhi->bhj", Rv, s)
        beta = _sigmoid(x.beta[:, t] + torch.einsum("hi,bhi->bh", params.r_beta, s))
        W = _write(W, k, v, beta)
        y = _read(W, q)
        ys.append(y)
    return torch.stack(ys, 1), (_T(W), y)


def oracle_delta_mlp(x: Any, state: Any, params: Any) -> tuple:
    n = x.k_in.shape[-2]
    W1 = [_T(state.S_in[:, :, l]) for l in range(n)]
    W2 = [_T(state.S_out[:, :, l]) for l in range(n)]
    ys = []
    for t in range(x.q.shape[1]):
        h = x.q[:, t]
        for l in range(n):
            mu = h.mean(-1, keepdim=True)
            var = ((h - mu) ** 2).mean(-1, keepdim=True)
            a = (h - mu) / torch.sqrt(var + 1e-5) * params.weight[l] + params.bias[l]
            W1[l] = _write(W1[l], x.k_in[:, t, :, l], x.v_in[:, t, :, l], x.beta_in[:, t, :, l])
            u = _phi(_read(W1[l], _phi(a)))
            W2[l] = _write(W2[l], x.k_out[:, t, :, l], x.v_out[:, t, :, l], x.beta_out[:, t, :, l])
            h = h + _read(W2[l], u)
        ys.append(h)
    S_in = torch.stack([_T(W) for W in W1], 2)
    S_out = torch.stack([_T(W) for W in W2], 2)
    return torch.stack(ys, 1), (S_in, S_out)


def oracle_delta_delta(x: Any, state: Any, params: None) -> tuple:
    W, V = _T(state.S1), _T(state.S2)
    D = V.shape[-1]
    ys = []
    for t in range(x.q.shape[1]):
        W = _write(W, x.k[:, t], x.v[:, t], x.beta[:, t])
        p = _read(W, x.q[:, t])
        q2, k2, v2, b2 = p[..., :D], p[..., D : 2 * D], p[..., 2 * D : 3 * D], p[..., 3 * D]
        V = _write(V, _phi(k2), v2, _sigmoid(b2))
        ys.append(_read(V, _phi(q2)))
    return torch.stack(ys, 1), (_T(W), _T(V))


ORACLES: dict[str, Callable[..., tuple]] = {
    "delta_rnn": oracle_delta_rnn,
    "delta_rnn_v1": lambda x, s, p: oracle_delta_rnn(x, s, p, v1=True),
    "delta_lstm": oracle_delta_lstm,
    "rdn": oracle_rdn,
    "delta_mlp": oracle_delta_mlp,
    "delta_delta": oracle_delta_delta,
}


# --- helpers ----------------------------------------------------------------------------------


def _example(name: str, B: int = 2, T: int = 7, seed: int = 0, **kw: int) -> tuple:
    return CELLS[name].example(B, T, torch.Generator().manual_seed(seed), **kw)


def _slice(tree: Any, index: Any) -> Any:
    return None if tree is None else type(tree)(*(t[index] for t in tree))


def _assert_close(actual: Any, expected: Any, **tol: float) -> None:
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, **tol)


# --- tests ------------------------------------------------------------------------------------


def test_cell_names_are_the_registry_keys() -> None:
    assert [cell.name for cell in CELLS.values()] == list(CELLS)
    assert set(ORACLES) == set(CELLS)


@pytest.mark.parametrize("name", list(CELLS))
def test_matches_paper_equations(name: str) -> None:
    x, state, params = _example(name)
    y, final = CELLS[name](x, state, params, impl="recurrent")
    y_ref, final_ref = ORACLES[name](x, state, params)
    assert y.shape == y_ref.shape and y.abs().max() > 1e-3  # a real, non-trivial output
    torch.testing.assert_close(y, y_ref)
    _assert_close(final, final_ref)


def test_delta_rnn_v2_hand_computed() -> None:
    """Two tokens, one-hot keys, zero initial state; the numbers are worked out by hand.

    t=1: S row 0 ← 0.5·(2, 4) so z = (1, 2); softmax(y_0 = 0) = (½, ½); R row 1 ← (2, 0) so the
    recurrent part is (1, 0); y_1 = (2, 2). t=2: S row 1 ← (6, 0), z = (6, 0); softmax(y_1) =
    (½, ½); R row 0 ← 0.5·(0, 4) = (0, 2), the recurrent part is (1, 1); y_2 = (7, 1).
    """

    def seq(*rows: tuple[float, ...]) -> Tensor:
        return torch.tensor(rows, dtype=torch.float64).reshape(1, len(rows), 1, -1)

    def rate(*b: float) -> Tensor:
        return torch.tensor(b, dtype=torch.float64).reshape(1, len(b), 1)

    x = delta_rnn.Inputs(
        q=seq((1, 0), (0, 1)),
        k=seq((1, 0), (0, 1)),
        v=seq((2, 4), (6, 0)),
        beta=rate(0.5, 1.0),
        k_rec=seq((0, 1), (1, 0)),
        v_rec=seq((2, 0), (0, 4)),
        beta_rec=rate(1.0, 0.5),
    )
    zeros = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    state = delta_rnn.State(S=zeros, R=zeros, y=torch.zeros(1, 1, 2, dtype=torch.float64))
    y, final = delta_rnn.cell(x, state, impl="recurrent")
    torch.testing.assert_close(y.flatten(), torch.tensor([2.0, 2, 7, 1], dtype=torch.float64))
    torch.testing.assert_close(final.S[0, 0], torch.tensor([[1.0, 2], [6, 0]], dtype=torch.float64))
    torch.testing.assert_close(final.R[0, 0], torch.tensor([[0.0, 2], [2, 0]], dtype=torch.float64))
    torch.testing.assert_close(final.y.flatten(), torch.tensor([7.0, 1], dtype=torch.float64))


def test_delta_rnn_v2_without_recurrence_is_deltanet() -> None:
    x, state, _ = _example("delta_rnn", B=2, T=6)
    x = x._replace(beta_rec=torch.zeros_like(x.beta_rec))
    state = state._replace(R=torch.zeros_like(state.R))
    y, final = delta_rnn.cell(x, state, impl="recurrent")
    o, S = RULES["delta"](x.q, x.k, x.v, x.beta, impl="recurrent", scale=1.0,
                          initial_state=state.S)  # fmt: skip
    torch.testing.assert_close(y, o)
    torch.testing.assert_close(final.S, S)
    torch.testing.assert_close(final.R, torch.zeros_like(final.R))


def test_rdn_without_recurrent_slow_weights_is_deltanet_on_softmax_keys() -> None:
    x, state, params = _example("rdn", B=2, T=6)
    params = rdn.Params(*(torch.zeros_like(p) for p in params))
    y, final = rdn.cell(x, state, params, impl="recurrent")
    q, k = torch.softmax(x.q, -1), torch.softmax(x.k, -1)
    o, S = RULES["delta"](q, k, x.v, torch.sigmoid(x.beta), impl="recurrent", scale=1.0,
                          initial_state=state.S)  # fmt: skip
    torch.testing.assert_close(y, o)
    torch.testing.assert_close(final.S, S)


@pytest.mark.parametrize("name", list(CELLS))
def test_segmented_equals_one_call(name: str) -> None:
    cell = CELLS[name]
    x, state, params = _example(name, T=7)
    y, final = cell(x, state, params, impl="recurrent")
    y1, mid = cell(_slice(x, (slice(None), slice(0, 3))), state, params, impl="recurrent")
    y2, final2 = cell(_slice(x, (slice(None), slice(3, None))), mid, params, impl="recurrent")
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=0, atol=1e-12)
    _assert_close(final2, final, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_batch_invariance(name: str) -> None:
    cell = CELLS[name]
    x, state, params = _example(name, B=3, T=5)
    y, final = cell(x, state, params, impl="recurrent")
    for b in range(3):
        yb, final_b = cell(_slice(x, slice(b, b + 1)), _slice(state, slice(b, b + 1)), params,
                           impl="recurrent")  # fmt: skip
        torch.testing.assert_close(yb, y[b : b + 1], rtol=0, atol=1e-12)
        _assert_close(final_b, _slice(final, slice(b, b + 1)), rtol=0, atol=1e-12)


def _leaves(name: str, **kw: int) -> tuple[Any, Any, Any, list[Tensor]]:
    x, state, params = _example(name, **kw)
    trees = [x, state] + ([] if params is None else [params])
    leaves = [t.detach().clone().requires_grad_() for tree in trees for t in tree]
    return x, state, params, leaves


def _rebuild(x: Any, state: Any, params: Any, leaves: tuple[Tensor, ...]) -> tuple:
    nx, ns = len(x), len(state)
    return (
        type(x)(*leaves[:nx]),
        type(state)(*leaves[nx : nx + ns]),
        None if params is None else type(params)(*leaves[nx + ns :]),
    )


@pytest.mark.parametrize("name", list(CELLS))
def test_gradients_reach_every_input_state_and_param(name: str) -> None:
    x, state, params, leaves = _leaves(name, B=2, T=4)
    y, final = scan(CELLS[name].step, *_rebuild(x, state, params, tuple(leaves)))
    loss = (y * y.cos()).sum() + sum(s.sin().sum() for s in final)
    loss.backward()
    for i, leaf in enumerate(leaves):
        assert leaf.grad is not None and leaf.grad.abs().max() > 0, f"no gradient for leaf {i}"


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck(name: str) -> None:
    kw = {"inner": 3} if name == "delta_mlp" else {}
    x, state, params, leaves = _leaves(name, B=1, T=3, heads=1, d=2, **kw)
    step = CELLS[name].step

    def fn(*flat: Tensor) -> tuple[Tensor, ...]:
        y, final = scan(step, *_rebuild(x, state, params, flat))
        return (y, *final)

    assert torch.autograd.gradcheck(fn, tuple(leaves))


def test_bad_inputs_raise() -> None:
    x, state, params = _example("rdn", T=2)
    with pytest.raises(TypeError, match=r"rdn\.Params"):
        rdn.cell(x, state, None, impl="recurrent")
    x, state, _ = _example("delta_delta", T=2)
    with pytest.raises(ValueError, match=r"3D\+1"):
        delta_delta.cell(x, state._replace(S1=state.S1[..., :-1]), impl="recurrent")
    x, state, _ = _example("delta_rnn", T=2)
    with pytest.raises(ValueError, match="recurrent fast weight"):
        delta_rnn.cell(x, state._replace(R=state.R[..., :-1, :]), impl="recurrent")
    x, state, _ = _example("delta_lstm", T=2)
    with pytest.raises(ValueError, match="dim 2"):
        delta_lstm.cell(_slice(x, (slice(None), slice(None), slice(None), slice(0, 2))), state,
                        impl="recurrent")  # fmt: skip
    x, state, params = _example("delta_mlp", T=2)
    with pytest.raises(ValueError, match="blocks"):
        delta_mlp.cell(x, state._replace(S_in=state.S_in[:, :, :1]), params, impl="recurrent")
    with pytest.raises(ValueError, match="no 'fused' form"):
        delta_mlp.cell(x, state, params, impl="fused")


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_doc_has_an_example_per_cell() -> None:
    blocks = _doc_blocks()
    for name in ("delta_rnn", "delta_lstm", "rdn", "delta_mlp", "delta_delta"):
        assert any(f"{name}.cell" in block for block in blocks), name
