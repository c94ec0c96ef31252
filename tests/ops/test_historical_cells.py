"""The historical cells: the 1991 FWP (``fwp1991``) and the 1993 self-referential net (srnet1993).

Known answers worked out by hand, the identity-squash FWP against the sum rule, reads and writes
through sharp addresses (including writes into the net's own analysis/modification units),
gradients by finite differences, segmented == full, a small end-to-end training run, and the
python blocks of ``docs/historical.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES
from fastweights.ops.cell import Cell
from fastweights.ops.cells import fwp1991, srnet1993

EXACT = {"rtol": 1e-12, "atol": 1e-12}
DOC = Path(__file__).resolve().parents[2] / "docs" / "historical.md"

CELLS = [fwp1991.cell, fwp1991.cell_tanh, fwp1991.make_cell("tanh", "sigmoid"), srnet1993.cell]


def _seq(*rows: list[float]) -> Tensor:
    """Per-token vectors -> ``[B=1, T, H=1, D]`` float64."""
    return torch.tensor(rows, dtype=torch.float64).view(1, len(rows), 1, -1)


# ---------------------------------------------------------------- fwp1991


def _two_steps() -> tuple[fwp1991.Inputs, fwp1991.State]:
    x = fwp1991.Inputs(
        x=_seq([1, 1], [1, 2]),
        a=_seq([1, 0], [0, 1]),  # FROM: fast-net input units
        b=_seq([2, 1], [1, -1]),  # TO: fast-net output units
    )
    return x, fwp1991.initial_state(1, 1, 2, 2, dtype=torch.float64)


def test_fwp1991_known_answer_identity() -> None:
    # S_1 = a_1 b_1ᵀ = [[2, 1], [0, 0]], y_1 = S_1ᵀ [1, 1] = [2, 1]
    # S_2 = S_1 + a_2 b_2ᵀ = [[2, 1], [1, -1]], y_2 = S_2ᵀ [1, 2] = [4, -1]
    x, S0 = _two_steps()
    y, state = fwp1991.cell(x, S0, impl="recurrent")
    torch.testing.assert_close(y, _seq([2, 1], [4, -1]), **EXACT)
    torch.testing.assert_close(
        state.S[0, 0], torch.tensor([[2.0, 1], [1, -1]], dtype=torch.float64)
    )
    # paper orientation: W = Sᵀ, W[i, j] joins fast input j to fast output i, y = W x
    torch.testing.assert_close(state.S[0, 0].T @ x.x[0, 1, 0], y[0, 1, 0], **EXACT)


def test_fwp1991_known_answer_tanh() -> None:
    # S_1 = tanh([[2, 1], [0, 0]]); S_2 = tanh(S_1 + [[0, 0], [1, -1]])
    x, S0 = _two_steps()
    y, state = fwp1991.cell_tanh(x, S0, impl="recurrent")
    t = math.tanh
    S2 = [[t(t(2)), t(t(1))], [t(1), t(-1)]]
    expected = _seq([t(2), t(1)], [S2[0][0] + 2 * S2[1][0], S2[0][1] + 2 * S2[1][1]])
    torch.testing.assert_close(y, expected, **EXACT)
    torch.testing.assert_close(state.S[0, 0], torch.tensor(S2, dtype=torch.float64), **EXACT)


@pytest.mark.parametrize("form", list(RULES["sum"].forms))
def test_fwp1991_identity_is_the_sum_rule(form: str) -> None:
    """σ = identity: ``fwp1991(x, a, b, S0) == sum(q=x, k=a, v=b, β=1, scale=1, S0)``."""
    x, S0, _ = fwp1991.cell.example(2, 13, torch.Generator().manual_seed(1))
    y, state = fwp1991.cell(x, S0, impl="recurrent")
    beta = torch.ones(x.x.shape[:3], dtype=x.x.dtype)
    out = RULES["sum"](x.x, x.a, x.b, beta, impl=form, scale=1.0, initial_state=S0.S, chunk_size=4)
    torch.testing.assert_close(y, out.o, **EXACT)
    torch.testing.assert_close(state.S, out.state, **EXACT)
    # an output nonlinearity acts on that output; a squashing does not (it acts on the weights)
    y_sig, _ = fwp1991.make_cell(output="sigmoid")(x, S0, impl="recurrent")
    torch.testing.assert_close(y_sig, out.o.sigmoid(), **EXACT)
    y_tanh, _ = fwp1991.cell_tanh(x, S0, impl="recurrent")
    assert not torch.allclose(y_tanh, out.o.tanh())


@pytest.mark.parametrize("squash", ["identity", "tanh"])
def test_fwp1991_gradcheck(squash: str) -> None:
    cell = fwp1991.make_cell(squash, "tanh")
    x, S0, _ = cell.example(2, 3, torch.Generator().manual_seed(2), heads=1, d_in=3, d_out=2)
    leaves = [t.clone().requires_grad_() for t in (*x, S0.S)]

    def run(xx: Tensor, a: Tensor, b: Tensor, S: Tensor) -> tuple[Tensor, Tensor]:
        y, state = cell(fwp1991.Inputs(xx, a, b), fwp1991.State(S), impl="recurrent")
        return y, state.S

    assert torch.autograd.gradcheck(run, leaves)


def test_fwp1991_bad_options() -> None:
    with pytest.raises(ValueError, match="squash"):
        fwp1991.make_cell("relu6")
    with pytest.raises(ValueError, match="output"):
        fwp1991.make_cell(output="softmax")
    assert fwp1991.cell.name == "fwp1991" and fwp1991.cell_tanh.name == "fwp1991_tanh"


# ---------------------------------------------------------------- shared


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.name)
def test_segmented_equals_full(cell: Cell) -> None:
    x, state, params = cell.example(2, 9, torch.Generator().manual_seed(3))
    y, final = cell(x, state, params, impl="recurrent")
    first = type(x)(*(t[:, :4] for t in x))
    rest = type(x)(*(t[:, 4:] for t in x))
    y1, mid = cell(first, state, params, impl="recurrent")
    y2, final2 = cell(rest, mid, params, impl="recurrent")
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, **EXACT)
    for a, b in zip(final2, final, strict=True):
        torch.testing.assert_close(a, b, **EXACT)


# ---------------------------------------------------------------- srnet1993

SHARP = 0.01  # τ: a neighbouring address weighs e^{-100}
BIG = 40.0  # |pre-activation| of a pointer unit: sigmoid(±40) is 0/1 to float64 precision


def _pointing_net(
    layout: srnet1993.Layout, *, read: int | None = None, write: int | None = None, delta: float = 0
) -> srnet1993.State:
    """A random net whose ana (mod) units point exactly at connection ``read`` (``write``).

    Pointer units get only a bias weight ±BIG (their code bits); △ gets bias atanh(delta).
    """
    gen = torch.Generator().manual_seed(4)
    R, N = layout.n_computed, layout.n_units
    W = torch.randn(R, N, generator=gen, dtype=torch.float64) / N**0.5
    params = layout.params(SHARP, dtype=torch.float64)
    for units, target in ((layout.ana, read), (layout.mod, write)):
        rows = slice(units.start - layout.n_in, units.stop - layout.n_in)
        W[rows] = 0
        if target is not None:
            W[rows, layout.bias] = BIG * (2 * params.addresses[target] - 1)
        else:  # point halfway between codes, far from every address
            W[rows, layout.bias] = 0
    W[layout.delta - layout.n_in] = 0
    W[layout.delta - layout.n_in, layout.bias] = math.atanh(delta)
    return layout.initial_state(W, 1)


def _run(
    layout: srnet1993.Layout, state: srnet1993.State, micro_steps: int = 1, obs: float = 1.0
) -> srnet1993.State:
    """One token with every obs unit at ``obs`` and every eval unit at 1."""
    x = srnet1993.Inputs(
        torch.full((1, 1, layout.n_obs), obs, dtype=torch.float64),
        torch.ones(1, 1, layout.n_eval, dtype=torch.float64),
    )
    cell = srnet1993.make_cell(layout, micro_steps=micro_steps)
    return cell(x, state, layout.params(SHARP, dtype=torch.float64), impl="recurrent")[1]


def _targets(L: srnet1993.Layout) -> dict[str, tuple[int, int]]:
    return {
        "hidden<-obs": (L.hidden.start, 0),
        "output<-val": (L.output.start, L.val),
        "ana<-bias": (L.ana.start + 1, L.bias),  # a weight of the read machinery itself
        "mod<-hidden": (L.mod.stop - 1, L.hidden.start),  # ... and of the write machinery
        "delta<-ana": (L.delta, L.ana.start),
    }


@pytest.mark.parametrize("target", list(_targets(srnet1993.LAYOUT)))
def test_srnet_read_returns_the_addressed_weight(target: str) -> None:
    L = srnet1993.LAYOUT
    c = L.connection(*_targets(L)[target])
    state = _pointing_net(L, read=c)
    after = _run(L, state)
    torch.testing.assert_close(after.val[0, 0], state.W[0].flatten()[c], **EXACT)


@pytest.mark.parametrize("target", list(_targets(srnet1993.LAYOUT)))
def test_srnet_write_changes_exactly_the_addressed_weight(target: str) -> None:
    L = srnet1993.LAYOUT
    c = L.connection(*_targets(L)[target])
    state = _pointing_net(L, write=c, delta=0.5)
    change = (_run(L, state).W - state.W).flatten()
    expected = torch.zeros_like(change)
    expected[c] = 0.5
    torch.testing.assert_close(change, expected, **EXACT)


@pytest.mark.parametrize("delta", [0.0, 0.9])
def test_srnet_rewrites_its_own_read_pointer(delta: float) -> None:
    """Micro-step 1 writes into an analysis unit's weight; micro-step 2 then reads elsewhere.

    The last ana unit (the address's least significant bit) hears only obs unit 0, held at 80,
    through a weight -0.5 (bit 0). The mod units point at that very weight; a write △ = 0.9 makes
    it 0.4 (pre-activation 32: bit 1), so the second read returns the neighbouring connection.
    """
    L = srnet1993.LAYOUT
    read0 = L.connection(L.hidden.start, 0)  # an even index: its last bit is 0
    read1 = L.connection(L.hidden.start, 1)  # the same address with the last bit set
    ana_last = L.ana.stop - 1
    pointer_weight = L.connection(ana_last, 0)
    state = _pointing_net(L, read=read0, write=pointer_weight, delta=delta)
    W0 = state.W.clone()
    W0[0, ana_last - L.n_in, L.bias] = 0
    W0[0, ana_last - L.n_in, 0] = -0.5
    after = _run(L, state._replace(W=W0), micro_steps=2, obs=80.0)
    read = read1 if delta else read0
    torch.testing.assert_close(after.val[0, 0], W0[0].flatten()[read], **EXACT)
    assert after.W[0].flatten()[pointer_weight].item() == pytest.approx(-0.5 + 2 * delta)


def test_srnet_gradcheck_through_reads_and_writes() -> None:
    """Finite differences on a tiny net (2 micro-steps, 2 tokens) for every input, τ included."""
    L = srnet1993.Layout(n_obs=1, n_eval=1, n_hidden=1, n_out=1)
    cell = srnet1993.make_cell(L, micro_steps=2)
    x, state, params = cell.example(1, 2, torch.Generator().manual_seed(5))
    leaves = [t.clone().requires_grad_() for t in (*x, *state, params.tau)]

    def run(*t: Tensor) -> tuple[Tensor, ...]:
        obs, ev, W, h, val, tau = t
        y, final = cell(
            srnet1993.Inputs(obs, ev),
            srnet1993.State(W, h, val),
            params._replace(tau=tau),
            impl="recurrent",
        )
        return y, final.W.sum((1, 2)), final.W[:, 0, :4], final.h, final.val

    assert torch.autograd.gradcheck(run, leaves, fast_mode=True)
    # τ enters only through the reads and writes: its gradient is theirs
    y, *_ = run(*leaves)
    (d_tau,) = torch.autograd.grad(y.sum(), leaves[-1])
    assert d_tau.abs() > 1e-6


def test_srnet_errors() -> None:
    with pytest.raises(ValueError, match="n_hidden"):
        srnet1993.Layout(n_hidden=-1)
    with pytest.raises(ValueError, match="micro_steps"):
        srnet1993.make_cell(micro_steps=0)
    with pytest.raises(ValueError, match="tau"):
        srnet1993.LAYOUT.params(0.0)
    with pytest.raises(ValueError, match="no connection"):
        srnet1993.LAYOUT.connection(0, 0)  # input units receive no connections
    x, state, params = srnet1993.cell.example(2, 3, torch.Generator().manual_seed(6))
    bad = srnet1993.Inputs(x.obs[..., :1], x.eval)
    with pytest.raises(TypeError, match="Params"):
        srnet1993.cell(x, state, None, impl="recurrent")
    with pytest.raises(ValueError, match=r"x_t\.obs must be \[2, 2\], got \[2, 1\]"):
        srnet1993.cell(bad, state, params, impl="recurrent")


def _remember_first(
    batch: int, length: int, generator: torch.Generator
) -> tuple[srnet1993.Inputs, Tensor]:
    """Obs: a random sign, then Gaussian distractors; eval cues the last step; target: the sign."""
    first = torch.randint(0, 2, (batch, 1), generator=generator).float() * 2 - 1
    obs = 0.5 * torch.randn(batch, length, 1, generator=generator)
    obs[:, 0] = first
    cue = torch.zeros(batch, length, 1)
    cue[:, -1] = 1
    return srnet1993.Inputs(obs, cue), first


def test_srnet_learns_end_to_end() -> None:
    """Adam on the slow weights W0 of a self-referential net: recall the first input at the end."""
    torch.manual_seed(0)  # Adam has no generator argument; its updates are deterministic anyway
    L = srnet1993.Layout(n_obs=1, n_eval=1, n_hidden=4, n_out=1)
    cell = srnet1993.make_cell(L, micro_steps=2)
    params = L.params(tau=0.5)
    gen = torch.Generator().manual_seed(0)
    W0 = torch.nn.Parameter(torch.randn(L.n_computed, L.n_units, generator=gen) / L.n_units**0.5)
    opt = torch.optim.Adam([W0], lr=0.03)
    x_test, target_test = _remember_first(256, 5, torch.Generator().manual_seed(1))

    def held_out_loss() -> float:
        with torch.no_grad():
            y, _ = cell(x_test, L.initial_state(W0, 256), params, impl="recurrent")
            return (y[:, -1] - target_test).square().mean().item()

    initial = held_out_loss()
    _train(cell, L, params, W0, opt, gen)
    assert held_out_loss() < 0.1 * initial


def _train(
    cell: Cell,
    L: srnet1993.Layout,
    params: srnet1993.Params,
    W0: Tensor,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
) -> None:
    for _ in range(60):
        x, target = _remember_first(32, 5, gen)
        y, _ = cell(x, L.initial_state(W0, 32), params, impl="recurrent")
        loss = (y[:, -1] - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
