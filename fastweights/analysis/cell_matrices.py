"""The main fast weight matrix of each cell, in the papers' orientation, with its row names.

A cell's state holds several tensors in the library's layout (``S = Wᵀ``). For the plots one
matrix per cell is *the* fast weight matrix, shown as ``W`` (rows: output units, columns: input
units, ``o = W x``):

- ``srwm``/``fake_srwm``/``sr_delta``: the whole self-referential matrix
  ``W = [W_y; W_q; W_k; w_bᵀ]`` (Irie et al. 2022, arXiv:2202.05780), rows × input units;
- ``fwp1991``, ``rdn``, ``delta_rnn``: ``W = Sᵀ``; ``delta_lstm``: ``[W_i; W_u; W_o]`` stacked;
- ``delta_delta``: the programmer ``W = S1ᵀ`` whose rows are the second net's raw q, k, v, b;
- ``delta_mlp``: the first fast layer of the first block, ``(W^{1,1}) = S_inᵀ``;
- ``srnet1993``: ``W [R, N]`` itself (Schmidhuber 1993), rows the computed units, columns all
  units; the analysis/modification addresses and △ of the last micro-step come out of ``h``.

Every function maps the stacked state fields ``{name: [T', H, ...]}`` (and the input sizes) to
``(W [T', H, rows, cols], meta)``; for the 1993 net it adds the named unit groups to the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fastweights.ops.cells import srnet1993

Matrix = tuple[Tensor, dict[str, Any]]


def _rows(*blocks: tuple[str, int]) -> list[list[Any]]:
    return [[name, int(size)] for name, size in blocks]


def _srwm(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
    parts = [state["W_y"], state["W_q"], state["W_k"], state["w_b"].mT]  # w_b is stored transposed
    names = ("W_y", "W_q", "W_k", "w_b")
    meta = {"rows": _rows(*((n, p.shape[-2]) for n, p in zip(names, parts, strict=True)))}
    meta["columns"] = "the cell's input x (one column per input unit)"
    return torch.cat(parts, dim=-2), meta


def _transposed(field: str, rows: str) -> Callable[[dict[str, Tensor], dict[str, int]], Matrix]:
    def matrix(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
        W = state[field].mT  # S [.., K, V] -> W [.., V, K]
        return W, {"rows": _rows((rows, W.shape[-2])), "source": f"{field}ᵀ"}

    return matrix


def _delta_lstm(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
    parts = [state[f"S_{g}"].mT for g in ("i", "u", "o")]
    meta = {"rows": _rows(*((f"W_{g}", p.shape[-2]) for g, p in zip("iuo", parts, strict=True)))}
    return torch.cat(parts, dim=-2), meta | {"source": "[S_iᵀ; S_uᵀ; S_oᵀ]"}


def _delta_delta(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
    D = state["S2"].shape[-1]
    W = state["S1"].mT  # [.., 3D+1, K]
    return W, {"rows": _rows(("q2", D), ("k2", D), ("v2", D), ("b2", 1)), "source": "S1ᵀ"}


def _delta_mlp(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
    W = state["S_in"][:, :, 0].mT  # [T', H, n, D, F] -> block 0: [T', H, F, D]
    meta = {"rows": _rows(("hidden", W.shape[-2])), "source": "S_in[block 0]ᵀ (W^{1,1})"}
    return W, meta


def srnet_layout(state: dict[str, Tensor], n_obs: int, n_eval: int, n_out: int) -> srnet1993.Layout:
    """The ``Layout`` of a 1993 net from the sizes of its input groups and its weights."""
    R, N = state["W"].shape[-2:]
    for n_hidden in range(R):
        layout = srnet1993.Layout(n_obs, n_eval, n_hidden, n_out)
        if (layout.n_computed, layout.n_units) == (R, N):
            return layout
    raise ValueError(f"no 1993-net layout with {n_obs} obs, {n_eval} eval, {n_out} output units "
                     f"has W of shape [{R}, {N}]")  # fmt: skip


def srnet_replay_step(
    layer: Any, tau: float, writes: bool
) -> tuple[srnet1993.Layout, srnet1993.Params, Callable[..., Any]]:
    """The layout of a recorded ``srnet1993`` layer (a ``LayerRecording``), its float64
    parameters and its step of one micro-step, to replay what the layer ran."""
    st, x = layer.state, layer.inputs
    layout = srnet_layout({"W": torch.from_numpy(st["W"])}, x["obs"].shape[-1],
                          x["eval"].shape[-1], layer.output.shape[-1])  # fmt: skip
    return layout, layout.params(tau, dtype=torch.float64), srnet1993.make_step(layout, 1, writes)


def srnet_units(layout: srnet1993.Layout) -> tuple[list[list[Any]], list[list[Any]]]:
    """The unit groups of the rows (computed units) and the columns (all units) of ``W``."""
    computed = [
        ["hidden", layout.n_hidden],
        ["output", layout.n_out],
        ["ana", layout.n_addr],
        ["mod", layout.n_addr],
        ["delta", 1],
    ]
    inputs = [["obs", layout.n_obs], ["eval", layout.n_eval], ["val", 1], ["bias", 1]]
    return computed, inputs + computed


def srnet_state(state: dict[str, Tensor], layout: srnet1993.Layout) -> dict[str, Tensor]:
    """The named groups of ``h`` (last micro-step): ``hidden, output, ana, mod, delta`` (△)."""
    rows, _ = srnet_units(layout)
    named, start = {}, 0
    for name, size in rows:
        named[name] = state["h"][..., start : start + size]
        start += size
    return named


def _srnet(state: dict[str, Tensor], sizes: dict[str, int]) -> Matrix:
    layout = srnet_layout(state, sizes["obs"], sizes["eval"], sizes["out"])
    state |= srnet_state(state, layout)
    rows, columns = srnet_units(layout)
    return state["W"], {"rows": rows, "columns": columns, "source": "W (rows: to, columns: from)"}


CELL_MATRICES: dict[str, Callable[[dict[str, Tensor], dict[str, int]], Matrix]] = {
    "srwm": _srwm,
    "fake_srwm": _srwm,
    "sr_delta": _srwm,
    "fwp1991": _transposed("S", "output"),
    "rdn": _transposed("S", "output"),
    "delta_rnn": _transposed("S", "output (feed-forward W)"),
    "delta_lstm": _delta_lstm,
    "delta_mlp": _delta_mlp,
    "delta_delta": _delta_delta,
    "srnet1993": _srnet,
}


def cell_family(name: str) -> str:
    """The cell a layer's cell name is a variant of (``fwp1991_tanh`` is an ``fwp1991``)."""
    return "fwp1991" if name.startswith("fwp1991") else name


def cell_matrix(
    name: str, state: dict[str, Tensor], sizes: dict[str, int]
) -> tuple[Tensor | None, dict[str, Any]]:
    """The main matrix of cell ``name`` (None, with a note, for a cell not listed here).

    ``state``: the stacked state fields ``[T', H, ...]`` (the 1993 net's unit groups are added to
    it); ``sizes``: the last dim of each input field and ``"out"``, the cell's output size.
    """
    family = cell_family(name)
    if family not in CELL_MATRICES:
        return None, {"weights": f"no main fast matrix is defined for cell {name!r}; see state"}
    return CELL_MATRICES[family](state, sizes)
