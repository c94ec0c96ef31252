"""The 1993 net micro-step by micro-step: what it reads, what it writes, what flows through it.

A recorded ``srnet1993`` layer keeps the state after every token; the net ran ``M`` micro-steps
per token (Schmidhuber, "A 'self-referential' weight matrix", ICANN 1993). ``srnet_microsteps``
replays them with the cell's own step (one micro-step at a time, float64, from the state of the
first recorded token) and returns, per micro-step ``s``::

    z_s      = [obs_t, eval_t, val_{s−1}, 1, h_{s−1}]          all N units the step reads
    read_s   = g(‖ana_s − adr(w_ij)‖²)           [R, N]       where the analysis units point
    write_s  = △_s · g(‖mod_s − adr(w_ij)‖²)     [R, N]       the change written (W_s − W_{s−1})
    in_s     = Σ_j |w_ij(s−1) z_j|,  out_s = Σ_i |w_ij(s−1) z_j|   nodal traffic into / out of units

The rows of ``W`` are the weights *into* the computed units, so the rows of the ``ana``, ``mod``
and ``△`` units are the net's own read/write machinery: ``machinery_change`` is how much each
group of rows changed at each micro-step. A replay that does not give the recorded weights at the
end of a token (another ``micro_steps``, ``tau`` or ``writes``) raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from fastweights.analysis.cell_matrices import srnet_replay_step, srnet_units
from fastweights.analysis.measures import consecutive
from fastweights.analysis.recording import LayerRecording, Recording
from fastweights.ops.cells import srnet1993


class MicroSteps(NamedTuple):
    """One head's micro-steps ``s = 1..S`` (``S = M·(T' − 1)``), after the first recorded token."""

    W: np.ndarray  # [S+1, R, N]  the weights before micro-step 1 and after each micro-step
    z: np.ndarray  # [S, N]       all units as micro-step s reads them
    read: np.ndarray  # [S, R, N] g of the analysis address over the connections
    write: np.ndarray  # [S, R, N] △ g of the modification address (0 with writes off)
    val: np.ndarray  # [S]        the value read
    delta: np.ndarray  # [S]      △
    token: np.ndarray  # [S]      the recorded step (token index) of each micro-step
    layout: srnet1993.Layout


def layer_options(recording: Recording) -> dict[str, Any]:
    """``micro_steps``, ``writes`` and ``tau`` of the recorded model's 1993 layers (its
    ``mixer_options``, else the layer's defaults)."""
    options = dict(recording.meta.get("model", {}).get("mixer_options", {}))
    return {
        "micro_steps": int(options.get("micro_steps", 2)),
        "writes": bool(options.get("writes", True)),
        "tau": 0.5,  # the layer keeps τ fixed at its default (srnet1993.Layout.params)
    }


def srnet_microsteps(
    layer: LayerRecording, head: int, *, micro_steps: int = 2, writes: bool = True,
    tau: float = 0.5,
) -> MicroSteps:  # fmt: skip
    """The micro-steps of head position ``head`` of a recorded ``srnet1993`` layer."""
    if layer.kind != "cell" or layer.meta.get("cell") != "srnet1993":
        raise ValueError(f"layer {layer.layer} is not a srnet1993 layer")
    if not consecutive(layer):
        raise ValueError(f"layer {layer.layer}: micro-steps need every step (record every=1)")
    if len(layer.steps) < 2:
        raise ValueError(f"layer {layer.layer}: micro-steps need at least 2 recorded steps")
    st, x = layer.state, layer.inputs
    layout, params, step = srnet_replay_step(layer, tau, writes)
    f64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    state = srnet1993.State(*(f64(st[name][0, head : head + 1]) for name in ("W", "h", "val")))
    ana = slice(layout.ana.start - layout.n_in, layout.ana.stop - layout.n_in)
    R, N = layout.n_computed, layout.n_units
    Ws, zs, reads, writes_, vals, deltas, tokens = [state.W[0]], [], [], [], [], [], []
    for t in range(1, len(layer.steps)):
        obs, ev = f64(x["obs"][t, head : head + 1]), f64(x["eval"][t, head : head + 1])
        for _ in range(micro_steps):
            zs.append(torch.cat([obs, ev, state.val, torch.ones(1, 1).double(), state.h], -1)[0])
            W_before = state.W
            _, state = step(state, srnet1993.Inputs(obs, ev), params)
            g_read = srnet1993.address_weights(state.h[:, ana], params.addresses, params.tau)
            reads.append(g_read.view(R, N))
            writes_.append((state.W - W_before)[0])  # △ g(mod), exactly as the step wrote it
            vals.append(state.val[0, 0])
            deltas.append(state.h[0, -1])
            Ws.append(state.W[0])
            tokens.append(int(layer.steps[t]))
        recorded = f64(st["W"][t, head])
        if not torch.allclose(state.W[0], recorded, rtol=1e-3,
                              atol=1e-4 * float(recorded.abs().max())):  # fmt: skip
            raise ValueError(f"layer {layer.layer}: replaying token {t} with {micro_steps} "
                             f"micro-steps (writes={writes}, tau={tau}) does not give the "
                             "recorded weights")  # fmt: skip
    stack = lambda items: torch.stack(items).numpy()  # noqa: E731
    return MicroSteps(stack(Ws), stack(zs), stack(reads), stack(writes_), stack(vals),
                      stack(deltas), np.asarray(tokens), layout)  # fmt: skip


def nodal_traffic(micro: MicroSteps) -> tuple[np.ndarray, np.ndarray]:
    """``Σ_j |w_ij z_j|`` into each computed unit ``[S, R]`` and ``Σ_i |w_ij z_j|`` out of each
    unit ``[S, N]``, with the weights each micro-step multiplies (``W_{s−1}``)."""
    flow = np.abs(micro.W[:-1] * micro.z[:, None, :])  # [S, R, N]
    return flow.sum(-1), flow.sum(-2)


def machinery_change(micro: MicroSteps) -> dict[str, np.ndarray]:
    """Per row group of ``W`` (the weights into hidden, output, ana, mod and △ units): the
    Frobenius norm of what each micro-step wrote into those rows, ``[S]`` each."""
    rows, _ = srnet_units(micro.layout)
    out, start = {}, 0
    for name, size in rows:
        block = micro.write[:, start : start + size]
        out[name] = np.sqrt(np.square(block).sum((-1, -2)))
        start += size
    return out
