"""Introspection integrals: how far each connection drifts from what the net last read of it.

A self-referential net reads its own weights. For every connection ``w_ij`` this module keeps
``a_ij``, the net's latest reading attributed to ``w_ij``, and integrates over time the
difference between the weight and that reading. It replaces the loose ``cumulative_correction``
of ``fastweights.analysis.measures`` for the two nets that read connections (the rule layers
keep it).

**The 1993 net** (Schmidhuber, ICANN 1993; ``fastweights.ops.cells.srnet1993``), per micro-step
``s = 1..S`` (``M`` per token), with ``g_ij(s) = exp(−‖ana(s) − adr(w_ij)‖²/τ)``::

    val(s)   = Σ_ij g_ij(s) w_ij(s−1)                  the read (of the weights before s's write)
    p_ij(s)  = g_ij(s) / Σ_kl g_kl(s)                  the read's attention over connections
    a_ij(s)  = a_ij(s−1) + p_ij(s) (val(s) − a_ij(s−1))
    I_ij     = Σ_{s=1..S} (w_ij(s) − a_ij(s))          (dt = one micro-step)

A read "is of" connection ij in proportion ``p_ij``: a sharp read (``p`` one-hot) sets
``a_ij = val`` for the connection it points at and leaves every other reading alone; a diffuse
read moves every reading a little towards ``val``. ``a(0) = w(0)`` (the net starts knowing its
weights; ``initial_reading`` overrides it), so ``I`` counts only the drift the net has not read
back: a connection changed after its last read accumulates the change every micro-step until it
is read again.

**The SRWM** (Irie et al. 2022, arXiv:2202.05780; ``fastweights.ops.cells.srwm``), per token
``t = 1..T``, ``W = [W_y; W_q; W_k; w_bᵀ]``: the net reads itself through its query and its key,
``v = W_{t−1} q_t`` and ``v̄ = W_{t−1} k_t`` (``q, k`` softmax). Its read of row i through a
query r is ``(W r)_i = Σ_j r_j w_ij``: the read of row i attends over that row's connections with
``p_ij = r_j / Σ_l r_l`` (``= r_j`` for a softmax). For each read r in order (q, then k)::

    a_ij ← a_ij + p_ij ((W_{t−1} r)_i − a_ij);     I_ij = Σ_{t=1..T} (w_ij(t) − a_ij(t))

Plain arrays in (numpy or torch), float64 numpy out: ``srnet_integral`` and ``srwm_integral``;
from a recorded layer (``LayerRecording``, every step kept): ``srnet_introspection`` (replays the
micro-steps between the recorded tokens with the cell's own step) and ``srwm_introspection``.
A recording does not hold a cell's learned initial state: without ``initial`` the integral starts
after the first recorded step, whose state plays ``w(0)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from fastweights.analysis.cell_matrices import srnet_replay_step
from fastweights.analysis.measures import as_array, consecutive
from fastweights.analysis.recording import LayerRecording
from fastweights.ops.cells import srnet1993


class Introspection(NamedTuple):
    integral: np.ndarray  # [..., rows, cols]  I = Σ (w − a)
    reading: np.ndarray  # [..., rows, cols]   a at the end: the latest reading of each weight


def srnet_integral(
    W: Any, ana: Any, addresses: Any, tau: float, *, val: Any = None, initial_reading: Any = None
) -> Introspection:
    """The 1993 net's integral (module doc) for one net.

    ``W [S+1, R, N]``: the weights before micro-step 1 and after each micro-step; ``ana
    [S, n_addr]``: the analysis units of each micro-step; ``addresses [R·N, n_addr]``;
    ``val [S]``: the values read (default: computed from ``W`` and ``ana``)."""
    W, ana, A = as_array(W, "W"), as_array(ana, "ana"), as_array(addresses, "addresses")
    if W.ndim != 3 or ana.ndim != 2 or len(ana) != len(W) - 1:
        raise ValueError(f"expected W [S+1, R, N] and ana [S, n_addr], got W {list(W.shape)}, "
                         f"ana {list(ana.shape)}")  # fmt: skip
    R, N = W.shape[1:]
    if A.shape != (R * N, ana.shape[1]):
        raise ValueError(f"addresses must be [{R * N}, {ana.shape[1]}], got {list(A.shape)}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    flat = W.reshape(len(W), R * N)
    g = np.exp(-((ana[:, None, :] - A[None]) ** 2).sum(-1) / tau)  # [S, R·N]
    reads = (g * flat[:-1]).sum(-1) if val is None else as_array(val, "val").reshape(-1)
    p = g / g.sum(-1, keepdims=True)
    return _integrate(flat, p[:, None], reads[:, None], initial_reading, (R, N))


def srwm_integral(
    W: Any, q: Any, k: Any = None, *, initial_reading: Any = None
) -> Introspection:  # fmt: skip
    """The SRWM's integral (module doc) for one net: ``W [T+1, rows, D]`` (the weights before
    token 1 and after each token), its queries ``q [T, D]`` and keys ``k [T, D]`` (None: the
    query reads only)."""
    W, q = as_array(W, "W"), as_array(q, "q")
    if W.ndim != 3 or q.shape != (len(W) - 1, W.shape[2]):
        raise ValueError(f"expected W [T+1, rows, D] and q [T, D], got W {list(W.shape)}, "
                         f"q {list(q.shape)}")  # fmt: skip
    queries = [q] if k is None else [q, as_array(k, "k")]
    if queries[-1].shape != q.shape:
        raise ValueError(f"k must be {list(q.shape)}, got {list(queries[-1].shape)}")
    rows, D = W.shape[1:]
    r = np.stack(queries, 1)  # [T, n_reads, D]
    reads = np.einsum("tid,tkd->tki", W[:-1], r)  # (W_{t−1} r)_i: [T, n_reads, rows]
    p = r / r.sum(-1, keepdims=True)
    # connection (i, j) is read with weight p_j toward (W r)_i: [T, n_reads, rows·D]
    p_flat = np.broadcast_to(p[:, :, None, :], (*p.shape[:2], rows, D)).reshape(*p.shape[:2], -1)
    val_flat = np.repeat(reads, D, axis=-1)
    return _integrate(W.reshape(len(W), -1), p_flat, val_flat, initial_reading, (rows, D))


def _integrate(
    w: np.ndarray, p: np.ndarray, val: np.ndarray, initial: Any, shape: tuple[int, int]
) -> Introspection:
    """``w [S+1, F]``; per step ``s`` the reads ``p, val [S, n_reads, F or 1]`` in order."""
    a = w[0].copy() if initial is None else as_array(initial, "initial_reading").reshape(-1)
    if a.shape != w[0].shape:
        raise ValueError(f"initial_reading must have {w[0].size} entries, got {a.size}")
    total = np.zeros_like(a)
    for s in range(len(w) - 1):
        for p_r, v_r in zip(p[s], val[s], strict=True):
            a = a + p_r * (v_r - a)
        total += w[s + 1] - a
    return Introspection(total.reshape(shape), a.reshape(shape))


def _check_layer(layer: LayerRecording, cell: str) -> None:
    if layer.kind != "cell" or layer.meta.get("cell") != cell:
        raise ValueError(f"layer {layer.layer} is not a {cell} layer "
                         f"(kind {layer.kind!r}, cell {layer.meta.get('cell')!r})")  # fmt: skip
    if not consecutive(layer):
        raise ValueError(f"layer {layer.layer}: the integral needs every step (record every=1)")


def srnet_introspection(
    layer: LayerRecording, *, micro_steps: int = 2, tau: float = 0.5, initial: Any = None,
    writes: bool = True,
) -> Introspection:  # fmt: skip
    """The 1993 net's integral of a recorded ``srnet1993`` layer, per kept head ``[H', R, N]``.

    The micro-steps between the recorded tokens are replayed with the cell's step (one
    micro-step at a time: ``micro_steps`` of them per token, as the layer ran; ``tau`` and the
    binary addresses as the layer's); a replay that does not reproduce the recorded states
    raises ``ValueError``. ``initial``: the state before the first token (``W, h, val`` as
    ``[H', ...]``, e.g. the layer's ``fresh_state``); without it the integral starts after the
    first recorded token. ``writes=False``: a layer built without writes (the ablation)."""
    _check_layer(layer, "srnet1993")
    st, x = layer.state, layer.inputs
    layout, params, step = srnet_replay_step(layer, tau, writes)
    f64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    if initial is None:
        state, first = srnet1993.State(f64(st["W"][0]), f64(st["h"][0]), f64(st["val"][0])), 1
    else:
        state, first = srnet1993.State(*(f64(initial[name]) for name in ("W", "h", "val"))), 0
    Ws, anas = [state.W], []
    for t in range(first, len(layer.steps)):
        inputs = srnet1993.Inputs(f64(x["obs"][t]), f64(x["eval"][t]))
        for _ in range(micro_steps):
            _, state = step(state, inputs, params)
            Ws.append(state.W)
            anas.append(state.h[:, layout.ana.start - layout.n_in : layout.ana.stop - layout.n_in])
        recorded = f64(st["W"][t])
        if not torch.allclose(
            state.W, recorded, rtol=1e-3, atol=1e-4 * float(recorded.abs().max())
        ):
            raise ValueError(f"layer {layer.layer}: replaying token {t} with {micro_steps} "
                             "micro-steps does not give the recorded weights (another "
                             "micro_steps or tau?)")  # fmt: skip
    W, ana = torch.stack(Ws, 1).numpy(), torch.stack(anas, 1).numpy()  # [H', S+1, ...]
    A = params.addresses.numpy()
    out = [srnet_integral(W[h], ana[h], A, tau) for h in range(len(W))]
    return Introspection(np.stack([o.integral for o in out]), np.stack([o.reading for o in out]))


def srwm_introspection(layer: LayerRecording, *, initial: Any = None) -> Introspection:
    """The SRWM's integral of a recorded ``srwm`` layer, per kept head ``[H', 3D + 4, D]``.

    Queries and keys are recomputed from the recorded weights and inputs:
    ``q_t = softmax(W_q(t−1) x_t)``, ``k_t = softmax(W_k(t−1) x_t)``. ``initial``: the stacked
    matrix before the first token ``[H', 3D + 4, D]``; without it the integral starts after the
    first recorded token."""
    _check_layer(layer, "srwm")
    W, x = as_array(layer.weights, "weights"), as_array(layer.inputs["x"], "x")  # [T, H, rows, D]
    D = W.shape[-1]
    if initial is not None:
        W = np.concatenate([as_array(initial, "initial")[None], W])
        x = np.concatenate([np.zeros_like(x[:1]), x])  # x_0 is never used: t starts at 1
    before = W[:-1]
    q = _softmax(np.einsum("thid,thd->thi", before[:, :, D : 2 * D], x[1:]))
    k = _softmax(np.einsum("thid,thd->thi", before[:, :, 2 * D : 3 * D], x[1:]))
    out = [srwm_integral(W[:, h], q[:, h], k[:, h]) for h in range(W.shape[1])]
    return Introspection(np.stack([o.integral for o in out]), np.stack([o.reading for o in out]))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
