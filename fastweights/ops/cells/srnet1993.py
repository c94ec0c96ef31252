"""The 1993 self-referential, introspective net: a recurrent net that reads and writes its weights.

Schmidhuber, "A 'self-referential' weight matrix", ICANN 1993, 446–451; "An 'introspective'
network that can learn to run its own weight change algorithm", Proc. Intl. Conf. on Artificial
Neural Networks, Brighton, 1993, 191–195. Every connection ``w_ij`` (from unit j to unit i) has an
address ``adr(w_ij)``, here the binary code of its flat index ``(i − n_in)·N + j``. Analysis units
``ana`` point at a connection to read; a special input unit ``val`` returns it. Modification units
``mod`` point at a connection to write; a special output ``△`` changes it. The analysis,
modification and △ units are units of the net, so the weights into them can be read and written
too: the net can change its own read/write machinery. Each observation is held for ``micro_steps``
micro-steps ``s = 1..M``, so the net can inspect and modify itself several times per token::

    z_s   = [obs_t, eval_t, val_{s-1}, 1, h_{s-1}]                  (all N units)
    h_s   = act(W_{s-1} z_s)                                        (the R computed units)
    val_s = Σ_ij g(‖ana_s − adr(w_ij)‖²) · w_ij(s-1)                (read)
    W_s   = W_{s-1} + △_s · g(‖mod_s − adr(w_ij)‖²)   for every ij  (write, mirrors the read)
    y_t   = the output units of h_M;  g(d) = exp(−d / τ)

Read and write both see the weights before this micro-step's write; ``val_s`` enters the net at
the next micro-step. ``act`` is ``tanh`` on hidden, output and △ units and the logistic function on
``ana`` and ``mod`` (their range ``(0, 1)`` covers the 0/1 address codes). Distinct codes are at
squared distance ≥ 1, so a small ``τ`` makes g sharply peaked: a neighbour weighs ``≤ e^{−1/τ}``.

Unit layout (indices into ``z``, N units; ``h`` holds units ``n_in..N−1``)::

    0 .. n_obs−1          obs      the observation (input units)
    .. + n_eval           eval     performance / error information (input units)
    n_in − 2              val      the value read at the previous micro-step (input unit)
    n_in − 1              bias     constant 1 (input unit); its weights are the biases
    n_in .. + n_hidden    hidden   (tanh)
    .. + n_out            output   (tanh) y_t
    .. + n_addr           ana      analysis units (logistic): the address to read
    .. + n_addr           mod      modification units (logistic): the address to write
    N − 1                 △        the change written (tanh)

Only the computed units receive connections (input units are clamped from outside), so the net's
weights are ``W [B, R, N]`` with ``R = N − n_in``, one address per entry; ``n_addr`` is the smallest
number of bits that addresses all ``R·N`` connections (it counts the ana/mod units themselves).
``W`` is per sequence state; its initial value ``W_0`` is the slow, learned weight matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

import torch
from torch import Tensor

from fastweights.ops.cell import (
    Cell,
    CellSpec,
    CellStep,
    Sampler,
    cell_example,
    heads_as_batch,
    init_normal,
    recurrent,
)
from fastweights.ops.cells.srnet1993_fused import make_fused


class Inputs(NamedTuple):
    """One token (or, with time at dim 1, a sequence): what the input units are clamped to."""

    obs: Tensor  # [B, n_obs]
    eval: Tensor  # [B, n_eval]


class State(NamedTuple):
    W: Tensor  # [B, R, N]  all weights of the net, W[b, i − n_in, j] joins unit j to unit i
    h: Tensor  # [B, R]     activations of the computed units (hidden, output, ana, mod, △)
    val: Tensor  # [B, 1]   the value read at the last micro-step


class Params(NamedTuple):
    addresses: Tensor  # [R·N, n_addr] 0/1 codes, row (i − n_in)·N + j is adr(w_ij)
    tau: Tensor  # []   sharpness of g(d) = exp(−d / τ)


@dataclass(frozen=True)
class Layout:
    """Sizes of the unit groups; the index ranges of every group follow (see the module doc)."""

    n_obs: int = 2
    n_eval: int = 1
    n_hidden: int = 3
    n_out: int = 1

    def __post_init__(self) -> None:
        for name in ("n_obs", "n_eval", "n_hidden", "n_out"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Layout.{name} must be an int >= 0, got {value!r}")

    @property
    def n_in(self) -> int:
        return self.n_obs + self.n_eval + 2  # + val + bias

    @cached_property
    def n_addr(self) -> int:
        bits = 1
        while 2**bits < self._rows(bits) * (self.n_in + self._rows(bits)):
            bits += 1
        return bits

    def _rows(self, bits: int) -> int:
        return self.n_hidden + self.n_out + 2 * bits + 1

    @property
    def n_computed(self) -> int:
        """R: the units that receive connections."""
        return self._rows(self.n_addr)

    @property
    def n_units(self) -> int:
        """N: all units."""
        return self.n_in + self.n_computed

    # index ranges in z (all N units)
    @property
    def val(self) -> int:
        return self.n_in - 2

    @property
    def bias(self) -> int:
        return self.n_in - 1

    @property
    def hidden(self) -> slice:
        return slice(self.n_in, self.n_in + self.n_hidden)

    @property
    def output(self) -> slice:
        return slice(self.hidden.stop, self.hidden.stop + self.n_out)

    @property
    def ana(self) -> slice:
        return slice(self.output.stop, self.output.stop + self.n_addr)

    @property
    def mod(self) -> slice:
        return slice(self.ana.stop, self.ana.stop + self.n_addr)

    @property
    def delta(self) -> int:
        return self.n_units - 1

    def connection(self, i: int, j: int) -> int:
        """The flat index of ``w_ij`` (to unit i from unit j), the number its address encodes."""
        if not (self.n_in <= i < self.n_units and 0 <= j < self.n_units):
            raise ValueError(
                f"no connection to unit {i} from unit {j}: targets are {self.n_in}..."
                f"{self.n_units - 1}, sources 0..{self.n_units - 1}"
            )
        return (i - self.n_in) * self.n_units + j

    def params(self, tau: float = 0.5, *, dtype: torch.dtype = torch.float32) -> Params:
        """The binary address codes (most significant bit first) and the sharpness τ > 0."""
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        index = torch.arange(self.n_computed * self.n_units)
        bits = torch.arange(self.n_addr - 1, -1, -1)
        codes = (index.unsqueeze(-1) >> bits) & 1  # [R·N, n_addr]
        return Params(codes.to(dtype), torch.tensor(tau, dtype=dtype))

    def initial_state(self, W0: Tensor, batch: int) -> State:
        """Every sequence starts from the slow weights ``W0 [R, N]``, zero activations, val = 0."""
        shape = (self.n_computed, self.n_units)
        if tuple(W0.shape) != shape:
            raise ValueError(f"W0 must be {list(shape)} for {self}, got {list(W0.shape)}")
        return State(
            W0.expand(batch, *shape),
            W0.new_zeros(batch, self.n_computed),
            W0.new_zeros(batch, 1),
        )


def address_weights(pointer: Tensor, addresses: Tensor, tau: Tensor) -> Tensor:
    """``g(‖pointer − adr(w_ij)‖²)`` for every connection: ``[B, n_addr] -> [B, R·N]``."""
    # ‖p − a‖² = ‖p‖² − 2 p·a + ‖a‖²: one [B, n] @ [n, R·N] product instead of a [B, R·N, n]
    # difference; exact for 0/1 pointers, and the clamp keeps rounding from making g exceed 1
    d = pointer.square().sum(-1, keepdim=True) - 2 * pointer @ addresses.T  # [B, R·N]
    d = (d + addresses.square().sum(-1)).clamp_min(0)
    return torch.exp(-d / tau)


def read(W: Tensor, ana: Tensor, addresses: Tensor, tau: Tensor) -> Tensor:
    """``val = Σ_ij g(‖ana − adr(w_ij)‖²) w_ij``: ``W [B,R,N]``, ``ana [B,n_addr]`` -> ``[B,1]``."""
    g = address_weights(ana, addresses, tau)
    return (g * W.flatten(1)).sum(-1, keepdim=True)


def write(W: Tensor, mod: Tensor, delta: Tensor, addresses: Tensor, tau: Tensor) -> Tensor:
    """``w_ij + △ g(‖mod − adr(w_ij)‖²)``: ``W [B,R,N]``, ``mod [B,n_addr]``, ``delta [B,1]``."""
    g = address_weights(mod, addresses, tau)
    return W + (delta * g).view_as(W)


def _check(layout: Layout, state: State, x_t: Inputs, params: Params) -> None:
    if not isinstance(params, Params):
        raise TypeError(f"srnet1993 needs params = Params(addresses, tau), got {params!r}")
    B = state.W.shape[0]
    R, N, n_addr = layout.n_computed, layout.n_units, layout.n_addr
    expected = {
        "state.W": ((B, R, N), state.W.shape),
        "state.h": ((B, R), state.h.shape),
        "state.val": ((B, 1), state.val.shape),
        "x_t.obs": ((B, layout.n_obs), x_t.obs.shape),
        "x_t.eval": ((B, layout.n_eval), x_t.eval.shape),
        "params.addresses": ((R * N, n_addr), params.addresses.shape),
        "params.tau": ((), params.tau.shape),
    }
    for name, (want, got) in expected.items():
        if tuple(got) != want:
            raise ValueError(f"srnet1993 {layout}: {name} must be {list(want)}, got {list(got)}")


def _check_options(micro_steps: object, writes: object) -> None:
    if isinstance(micro_steps, bool) or not isinstance(micro_steps, int) or micro_steps < 1:
        raise ValueError(f"micro_steps must be an int >= 1, got {micro_steps!r}")
    if not isinstance(writes, bool):
        raise ValueError(f"writes must be True or False, got {writes!r}")


def make_step(layout: Layout, micro_steps: int = 2, writes: bool = True) -> CellStep:
    """The one-token step of a net with ``layout``; each observation is held ``micro_steps``.

    ``writes=False`` is the ablation without self-modification: the modification units and △
    are computed (and read back through ``h``) but never applied, so ``W`` stays ``W_0``.
    """
    _check_options(micro_steps, writes)
    # the computed units in h: [hidden, output | ana, mod | △], tanh / logistic / tanh
    first_pointer = layout.ana.start - layout.n_in
    last_pointer = layout.mod.stop - layout.n_in
    ana = slice(first_pointer, first_pointer + layout.n_addr)
    mod = slice(ana.stop, last_pointer)
    output = slice(layout.output.start - layout.n_in, layout.output.stop - layout.n_in)

    def step(state: State, x_t: Inputs, params: Params) -> tuple[Tensor, State]:
        """``x_t = (obs [B, n_obs], eval [B, n_eval])`` -> ``(y_t [B, n_out], State)``."""
        _check(layout, state, x_t, params)
        W, h, val = state
        obs, ev = (x.to(W.dtype) for x in x_t)
        adr, tau = params.addresses.to(W.dtype), params.tau.to(W.dtype)
        bias = W.new_ones(W.shape[0], 1)
        for _ in range(micro_steps):
            z = torch.cat([obs, ev, val, bias, h], dim=-1)  # [B, N]
            pre = (W @ z.unsqueeze(-1)).squeeze(-1)  # [B, R, N] @ [B, N, 1] -> [B, R]
            h = torch.cat(
                [
                    pre[:, :first_pointer].tanh(),
                    pre[:, first_pointer:last_pointer].sigmoid(),
                    pre[:, last_pointer:].tanh(),
                ],
                dim=-1,
            )
            val_new = read(W, h[:, ana], adr, tau)
            if writes:
                W = write(W, h[:, mod], h[:, -1:], adr, tau)
            val = val_new
        return h[:, output].to(x_t.obs.dtype), State(W, h, val)

    return step


def make_lean_form(
    layout: Layout, micro_steps: int = 2, writes: bool = True
) -> Callable[..., tuple[Tensor, State]]:
    """The lean form (``fastweights.ops.cells.srnet1993_fused``): the read as the bilinear form
    ``u_aᵀ Ŵ v_a`` and the write as the rank-one ``△ u_m v_mᵀ`` over the flat weights ``Ŵ``, exact
    because g and the binary addresses separate over the high and low bits of a connection's
    index; no weight matrix is stored per micro-step (the backward undoes the writes)."""
    first = layout.ana.start - layout.n_in
    cuts = (
        first,
        layout.mod.stop - layout.n_in,
        layout.output.start - layout.n_in,
        layout.output.stop - layout.n_in,
    )
    _check_options(micro_steps, writes)
    run = make_fused(cuts, micro_steps, writes)

    def form(x: Inputs, state: State, params: Params) -> tuple[Tensor, State]:
        _check(layout, state, Inputs(x.obs[:, 0], x.eval[:, 0]), params)
        dtype = state.W.dtype
        y, W, h, val = run(
            x.obs.to(dtype), x.eval.to(dtype), *state, params.addresses.to(dtype),
            params.tau.to(dtype),
        )  # fmt: skip
        return y.to(x.obs.dtype), State(W, h, val)

    return form


def make_cell(layout: Layout | None = None, micro_steps: int = 2, writes: bool = True) -> Cell:
    """A 1993 self-referential net with ``layout`` (default ``Layout()``), named ``srnet1993``.

    Forms: ``recurrent`` (the scan over the step) and ``lean`` (see ``make_lean_form``);
    ``writes=False``: the ablation whose writes are not applied (see ``make_step``).
    """
    layout = Layout() if layout is None else layout
    step = make_step(layout, micro_steps, writes)

    @cell_example
    def example(
        randn: Sampler, batch: int, length: int, *, tau: float = 0.5
    ) -> tuple[Inputs, State, Params]:
        """Inputs ``~ N(0, 0.5²)`` (time at dim 1); ``W0 ~ N(0, 1/N)``; small random h, val."""
        R, N = layout.n_computed, layout.n_units
        x = Inputs(
            obs=0.5 * randn(batch, length, layout.n_obs),
            eval=0.5 * randn(batch, length, layout.n_eval),
        )
        state = State(
            randn(batch, R, N) / N**0.5, 0.5 * randn.uniform(batch, R), 0.1 * randn(batch, 1)
        )
        return x, state, layout.params(tau, dtype=torch.float64)

    forms = {"recurrent": recurrent(step), "lean": make_lean_form(layout, micro_steps, writes)}
    return Cell("srnet1993", step, forms, example)


def layer_layout(d: int, n_eval: int = 1) -> Layout:
    """A layer's net per head: d observation units (the slow projection), ``n_eval`` eval units,
    d hidden, d output."""
    return Layout(n_obs=d, n_eval=n_eval, n_hidden=d, n_out=d)


def _layer_state(layout: Layout) -> Callable[[int, int, torch.Generator], State]:
    def state(H: int, d: int, generator: torch.Generator) -> State:
        R, N = layout.n_computed, layout.n_units
        W0 = init_normal(generator, H, R, N, std=N**-0.5)  # the learned slow weights, per head
        return State(W0, torch.zeros(H, R), torch.zeros(H, 1))

    return state


EVAL_UNITS = ("projection", "feedback", "zero")


def layer_spec(
    feedback: int = 0,
    *,
    eval_units: str | None = None,
    writes: bool = True,
    micro_steps: int = 2,
) -> CellSpec:
    """The 1993 net as a layer, one net per head (heads fold into the batch).

    ``feedback``: how many channels of performance information the model delivers with each
    token (``FWPModel``: the last ``feedback`` input channels; e.g. the previous step's target).
    ``eval_units`` says what the eval input units are clamped to:

    - ``"feedback"`` (the default when ``feedback > 0``): the ``feedback`` channels themselves,
      one eval unit each, as in the paper's eval units that "feed performance information back";
    - ``"projection"`` (the default without feedback): one eval unit fed from the slow projection
      of the token;
    - ``"zero"``: ``feedback`` (at least one) eval units held at 0, the ablation at equal size.

    ``writes=False``: the modification units' writes are not applied (``make_step``). The address
    codes and the sharpness of g stay fixed; ``W_0`` is learned.
    """
    if isinstance(feedback, bool) or not isinstance(feedback, int) or feedback < 0:
        raise ValueError(f"feedback must be an int >= 0, got {feedback!r}")
    eval_units = eval_units or ("feedback" if feedback else "projection")
    if eval_units not in EVAL_UNITS:
        raise ValueError(f"eval_units must be one of {EVAL_UNITS}, got {eval_units!r}")
    if eval_units == "feedback" and not feedback:
        raise ValueError("eval_units='feedback' needs feedback channels (feedback > 0), got 0")
    _check_options(micro_steps, writes)
    n_eval = 1 if eval_units == "projection" else max(feedback, 1)

    def inputs(raw: Tensor, fb: Tensor | None = None) -> Inputs:
        """``raw [B, T, H, width]`` (and the feedback ``[B, T, F]``) -> the nets' inputs."""
        if eval_units == "projection":
            return Inputs(raw[..., :-1], raw[..., -1:])
        if eval_units == "zero":
            return Inputs(raw, raw.new_zeros(*raw.shape[:-1], n_eval))
        assert fb is not None, "the cell layer delivers the feedback"
        return Inputs(raw, fb.unsqueeze(2).expand(*raw.shape[:-1], n_eval).to(raw.dtype))

    return CellSpec(
        width=lambda d: d + (eval_units == "projection"),
        inputs=inputs,
        state=lambda H, d, generator: _layer_state(layer_layout(d, n_eval))(H, d, generator),
        params=lambda H, d, generator: layer_layout(d, n_eval).params(),
        learn_state=(0,),
        learn_params=False,
        cell=lambda H, d: heads_as_batch(make_cell(layer_layout(d, n_eval), micro_steps, writes)),
        feedback=feedback > 0,
        variant=layer_spec,
    )


# As a layer: the default (no feedback) feeds the eval unit from the slow projection.
LAYER = layer_spec()

LAYOUT = Layout()
# the default net: 2 obs, 1 eval, 3 hidden, 1 output, 2 micro-steps
cell = replace(make_cell(LAYOUT), layer=LAYER)
step = cell.step
