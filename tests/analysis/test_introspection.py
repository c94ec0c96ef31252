"""The introspection integrals against hand-computed tiny cases and against the cells' steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastweights.analysis import introspection
from fastweights.analysis.introspection import srnet_integral, srwm_integral
from fastweights.analysis.recording import LayerRecording
from fastweights.ops.cells import srnet1993, srwm

ADDRESSES = np.array([[0.0], [1.0]])  # two connections w_00, w_01 with 1-bit codes 0 and 1


def test_srnet_a_diffuse_read_moves_every_reading_by_its_share():
    W = np.array([[[1.0, 2.0]], [[1.0, 2.0]]])  # one micro-step, no write
    g0, g1 = 1.0, math.exp(-1.0)  # ana = 0, τ = 1: distances 0 and 1
    val = g0 * 1 + g1 * 2
    p = np.array([g0, g1]) / (g0 + g1)
    a = np.array([1.0, 2.0]) + p * (val - np.array([1.0, 2.0]))
    out = srnet_integral(W, [[0.0]], ADDRESSES, 1.0)
    np.testing.assert_allclose(out.reading, a[None])
    np.testing.assert_allclose(out.integral, (np.array([1.0, 2.0]) - a)[None])


def test_srnet_a_weight_changed_after_its_read_accumulates_until_read_again():
    """Sharp reads (τ tiny): s=1 reads w_01; s=2 writes +0.5 to it, reads w_00; s=3 reads w_01."""
    W = np.array([[[1.0, 2.0]], [[1.0, 2.0]], [[1.0, 2.5]], [[1.0, 2.5]]])
    out = srnet_integral(W, [[1.0], [0.0], [1.0]], ADDRESSES, 1e-3)
    # w_01 − a_01: 0 (s=1), 0.5 (s=2, stale), 0 (s=3, read back); w_00 is always known
    np.testing.assert_allclose(out.integral, [[0.0, 0.5]], atol=1e-12)
    np.testing.assert_allclose(out.reading, [[1.0, 2.5]], atol=1e-12)


def test_srnet_given_reads_and_initial_reading():
    W = np.array([[[1.0, 2.0]], [[1.0, 2.0]]])
    out = srnet_integral(W, [[1.0]], ADDRESSES, 1e-3, val=[7.0], initial_reading=[[0.0, 0.0]])
    np.testing.assert_allclose(out.reading, [[0.0, 7.0]], atol=1e-12)
    np.testing.assert_allclose(out.integral, [[1.0, -5.0]], atol=1e-12)


def test_srwm_reads_each_row_through_the_query():
    W = np.array([[[1.0, 3.0]], [[2.0, 3.0]]])  # one row, D = 2; w_00 changes after the read
    out = srwm_integral(W, [[1.0, 0.0]])
    np.testing.assert_allclose(out.reading, [[1.0, 3.0]])
    np.testing.assert_allclose(out.integral, [[1.0, 0.0]])
    # a query (0.5, 0.5) reads 2 and moves both readings halfway there; then the key (0, 1)
    W = np.array([[[1.0, 3.0]], [[1.0, 3.0]]])
    out = srwm_integral(W, [[0.5, 0.5]], [[0.0, 1.0]])
    np.testing.assert_allclose(out.reading, [[1.5, 3.0]])
    np.testing.assert_allclose(out.integral, [[-0.5, 0.0]])


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="ana"):
        srnet_integral(np.zeros((3, 1, 2)), [[0.0]], ADDRESSES, 1.0)
    with pytest.raises(ValueError, match="addresses"):
        srnet_integral(np.zeros((2, 1, 2)), [[0.0]], ADDRESSES[:1], 1.0)
    with pytest.raises(ValueError, match="q"):
        srwm_integral(np.zeros((2, 1, 2)), [[1.0, 0.0, 0.0]])


def _srnet_layer(micro_steps: int = 2):
    """A recorded-looking srnet1993 layer (2 heads) from the scan, the micro-step arrays, the
    params and the initial state."""
    layout = srnet1993.Layout(n_obs=2, n_eval=1, n_hidden=2, n_out=2)
    cell = srnet1993.make_cell(layout, micro_steps)
    x, state, params = cell.example(2, 4, torch.Generator().manual_seed(0))  # 2 "heads" as batch
    initial = {name: getattr(state, name).numpy() for name in ("W", "h", "val")}
    states, W, ana = [], [state.W], []
    one = srnet1993.make_step(layout, 1)
    s = state
    ana_rows = slice(layout.ana.start - layout.n_in, layout.ana.stop - layout.n_in)
    for t in range(4):
        _, state = cell.step(state, srnet1993.Inputs(x.obs[:, t], x.eval[:, t]), params)
        states.append(state)
        for _ in range(micro_steps):
            _, s = one(s, srnet1993.Inputs(x.obs[:, t], x.eval[:, t]), params)
            W.append(s.W)
            ana.append(s.h[:, ana_rows])
    stack = lambda name: torch.stack([getattr(st, name) for st in states]).numpy()  # noqa: E731
    layer = LayerRecording(
        layer=0, mixer="srnet1993", kind="cell", steps=np.arange(4), heads=[0, 1],
        inputs={"obs": x.obs.transpose(0, 1).numpy(), "eval": x.eval.transpose(0, 1).numpy()},
        weights=stack("W"), attention=None, output=np.zeros((4, 2, 2)),
        state={"W": stack("W"), "h": stack("h"), "val": stack("val")}, meta={"cell": "srnet1993"},
    )  # fmt: skip
    return layer, torch.stack(W, 1).numpy(), torch.stack(ana, 1).numpy(), params, initial


def test_srnet_introspection_of_a_recording_replays_the_micro_steps():
    layer, W, ana, params, initial = _srnet_layer()
    got = introspection.srnet_introspection(layer, micro_steps=2, tau=0.5, initial=initial)
    A = params.addresses.numpy()
    for h in range(2):
        want = srnet_integral(W[h], ana[h], A, 0.5)
        np.testing.assert_allclose(got.integral[h], want.integral, rtol=1e-4, atol=1e-5)
    # without the initial state: from the first recorded token on (its 2 micro-steps skipped)
    later = introspection.srnet_introspection(layer, micro_steps=2, tau=0.5)
    want = srnet_integral(W[0, 2:], ana[0, 2:], A, 0.5)
    np.testing.assert_allclose(later.integral[0], want.integral, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="micro-steps"):
        introspection.srnet_introspection(layer, micro_steps=3, tau=0.5)


def test_srwm_introspection_of_a_recording_recomputes_queries_and_keys():
    x, state, _ = srwm.example(1, 3, torch.Generator().manual_seed(1), heads=2, d=3)
    stacked, s = [], state
    for t in range(3):
        _, s = srwm.step(s, x[:, t])
        stacked.append(torch.cat([s.W_y, s.W_q, s.W_k, s.w_b.mT], dim=-2)[0])
    weights = torch.stack(stacked).numpy()  # [T, H, 3D + 4, D]
    layer = LayerRecording(
        layer=0, mixer="srwm", kind="cell", steps=np.arange(3), heads=[0, 1],
        inputs={"x": x[0].numpy()}, weights=weights, attention=None, output=np.zeros((3, 2, 3)),
        meta={"cell": "srwm"},
    )  # fmt: skip
    got = introspection.srwm_introspection(layer)
    xs = x[0].numpy()
    for h in range(2):
        W = weights[:, h]
        q = [np.exp(W[t, 3:6] @ xs[t + 1, h]) for t in range(2)]
        k = [np.exp(W[t, 6:9] @ xs[t + 1, h]) for t in range(2)]
        want = srwm_integral(W, [v / v.sum() for v in q], [v / v.sum() for v in k])
        np.testing.assert_allclose(got.integral[h], want.integral, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not a srnet1993 layer"):
        introspection.srnet_introspection(layer)
