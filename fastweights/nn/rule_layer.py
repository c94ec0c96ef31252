"""``RuleLayer``: the skeleton every learning-rule mixer shares — slow net, rule, read-out.

    inputs = project(x[, conv cache])                       (a ``RuleInputs``)
    o, S   = rule(q, k, v, β[, gates]; S, scale)            (``fastweights.ops.RULES``)
    y      = read_out(o, x)                                 (by default ``out(o)``)

``project`` is its own submodule, so a forward hook sees exactly what the rule sees; ``out`` is
the module whose first argument is the rule's output ``o [B, T, H·V]`` (a forward pre-hook there
sees it; the analysis tools hook both). Subclasses build ``project`` and ``out``:
``FastWeightLayer`` (the minimal layers over any rule), ``DeltaNet``, ``GatedDeltaNet`` and
``LinearTransformer`` (the published layers).

``forward(x, state=None) -> (y, state)`` with ``state`` the fast weights ``S [B, H, K, V]``, or
``FastWeightState(S, conv cache)`` for a layer with a short convolution: carrying it across
calls equals one long call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from fastweights.ops import RULES
from fastweights.ops.checks import check_chunk_size


class RuleInputs(NamedTuple):
    """What the rule sees: ``q, k [B, T, H, K]``, ``v [B, T, H, V]``, ``beta [B, T, H]``, gates.

    ``conv``: the short convolution's cache after this call, ``[B, C, kernel − 1]`` (None
    without a short convolution); the layer carries it in its state, the rule never reads it.
    """

    q: Tensor
    k: Tensor
    v: Tensor
    beta: Tensor
    gates: dict[str, Tensor]
    conv: Tensor | None = None


class FastWeightState(NamedTuple):
    """A rule layer's state with a short convolution (without one: ``fast`` alone)."""

    fast: Tensor  # the fast weights S [B, H, K, V]
    conv: Tensor  # the short convolution's last inputs [B, C, kernel − 1]


class RuleLayer(nn.Module):
    """A mixer over ``RULES[rule]``: ``project`` -> rule (form ``impl``) -> ``read_out``.

    ``scale`` multiplies the queries inside the rule (``o_t = S_tᵀ (scale · q_t)``);
    ``carries_conv`` says the state holds a short-convolution cache. Subclasses set
    ``self.project`` and ``self.out`` after calling this.
    """

    project: nn.Module
    out: nn.Module

    def __init__(
        self, rule: str, *, impl: str | None, chunk_size: int, scale: float, carries_conv: bool
    ) -> None:
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known rules: {', '.join(RULES)}")
        self.rule = RULES[rule]
        self.impl = impl or ("chunk" if "chunk" in self.rule.forms else "recurrent")
        available = [*self.rule.forms, *self.rule.kernels]  # kernels: e.g. "triton_chunk"
        if self.impl not in available:
            raise ValueError(
                f"rule {rule!r} has no {self.impl!r} form; available: {', '.join(available)}"
            )
        self.chunk_size = check_chunk_size(chunk_size)
        self.scale = float(scale)
        self.carries_conv = carries_conv

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        """The rule's output ``o [B, T, H·V]`` (and the layer's input ``x``) -> ``y``."""
        return self.out(o)

    def forward(
        self, x: Tensor, state: Tensor | FastWeightState | None = None
    ) -> tuple[Tensor, Tensor | FastWeightState]:
        """``x [B, T, d_model]`` -> ``(y [B, T, d_model], state)``."""
        fast, conv = self._unpack(state)
        inputs = self.project(x, conv)
        o, fast = self.rule(
            inputs.q, inputs.k, inputs.v, inputs.beta, impl=self.impl, scale=self.scale,
            initial_state=fast, chunk_size=self.chunk_size, **inputs.gates,
        )  # fmt: skip
        y = self.read_out(o.flatten(2), x)
        return y, (FastWeightState(fast, inputs.conv) if self.carries_conv else fast)

    def _unpack(self, state: Any) -> tuple[Tensor | None, Tensor | None]:
        """``state`` -> (fast weights, conv cache), checking it is this layer's kind of state."""
        if state is None:
            return None, None
        if self.carries_conv:
            if not isinstance(state, FastWeightState):
                raise TypeError(
                    f"{type(self).__name__} with a short convolution takes a "
                    f"FastWeightState(fast, conv) as state, got {type(state).__name__}"
                )
            return state.fast, state.conv
        if not isinstance(state, Tensor):
            raise TypeError(
                f"{type(self).__name__} without short convolution takes the fast weights "
                f"[B, H, K, V] as state, got {type(state).__name__}"
            )
        return state, None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name: str, value: object) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_heads(d_model: int, n_heads: int) -> None:
    """``d_model`` and ``n_heads`` are positive ints and ``n_heads`` divides ``d_model``."""
    check_positive_int("d_model", d_model)
    check_positive_int("n_heads", n_heads)
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
