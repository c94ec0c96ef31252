"""One benchmark configuration (`Case`) and the call it times: a rule form, or causal SDPA.

Inputs come from a seeded `torch.Generator`: q, k L2-normalised along the last dim (the delta
rules expect it), β = sigmoid(randn), the log-decay g = logsigmoid(randn + 4) ≤ 0, a random
initial state. In "fwdbwd" mode every float input is a leaf that requires grad, and the call is
forward then `torch.autograd.backward` of o and the final state with fixed random upstream grads;
the input grads are set to None before each call, as `zero_grad(set_to_none=True)` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fastweights.bench.fla import FLA_FORMS, fla_rule
from fastweights.bench.flops import MODES, algorithm, op_flops

SDPA = "sdpa"  # the baseline's rule name in cases, records and the table


@dataclass(frozen=True)
class Case:
    """One measured configuration. `rule` "sdpa" is the causal softmax attention baseline."""

    rule: str
    form: str
    mode: str
    B: int
    T: int
    H: int
    K: int
    V: int
    chunk_size: int

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("B", "T", "H", "K", "V", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def flops(self) -> int | None:
        """FLOPs of one call (see `fastweights.bench.flops`); None where uncounted."""
        return op_flops(
            self.rule, self.form, self.mode, self.B, self.T, self.H, self.K, self.V, self.chunk_size
        )

    @property
    def uses_chunks(self) -> bool:
        """Whether `chunk_size` matters for this case (it is recorded only then)."""
        return self.rule != SDPA and algorithm(self.rule, self.form) == "chunk"

    def family(self) -> tuple[object, ...]:
        """Everything but T: cases of one family differ only in length (for time estimates)."""
        return (self.rule, self.form, self.mode, self.B, self.H, self.K, self.V, self.chunk_size)


def sdpa_case(mode: str, B: int, T: int, H: int, D: int) -> Case:
    """The causal SDPA baseline at the given size (K = V = D)."""
    return Case(SDPA, "torch", mode, B, T, H, D, D, chunk_size=1)


def _randn(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=gen.device, dtype=dtype)


def _gate(
    name: str, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """A random gate input by name: the log-decay "g", Titans' log-momentum "eta"."""
    if name == "g":
        return F.logsigmoid(_randn(shape, gen, dtype) + 4)
    if name == "eta":  # η = σ(randn) around 0.5
        return F.logsigmoid(_randn(shape, gen, dtype))
    raise ValueError(f"no benchmark input for gate {name!r}; known gates: ('g', 'eta')")


# rules timed with several steps per token (k, v, beta with an n_h axis): DeltaProduct's n_h
STEPS_PER_TOKEN = {"delta_product": 2}
# rules whose final state is wider than [B, H, K, V]: Titans' memory | momentum [B, H, K, 2V]
STATE_WIDTH = {"titans": 2}


def rule_inputs(
    gates: tuple[str, ...], B: int, T: int, H: int, K: int, V: int, gen: torch.Generator,
    dtype: torch.dtype, steps: int = 1, state_width: int = 1,
) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """A rule's inputs (q, k, v, beta, initial_state and the named gates) and the upstream grads
    of (o, final state), drawn from `gen` in that order; the state is float32 (float64 for
    float64 inputs), the rules' contract. `steps` > 1: k, v, beta carry that many steps per
    token (`[B, T, H, steps, D]`, beta `[B, T, H, steps]`); `state_width` > 1: the final state
    (and so its upstream grad) is `[B, H, K, state_width·V]`."""
    state_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    n = (steps,) if steps > 1 else ()
    inputs = {
        "q": F.normalize(_randn((B, T, H, K), gen, dtype), dim=-1),
        "k": F.normalize(_randn((B, T, H, *n, K), gen, dtype), dim=-1),
        "v": _randn((B, T, H, *n, V), gen, dtype),
        "beta": torch.sigmoid(_randn((B, T, H, *n), gen, dtype)),
        "initial_state": 0.1 * _randn((B, H, K, V), gen, state_dtype),
    }
    for name in gates:
        inputs[name] = _gate(name, (B, T, H), gen, dtype)
    upstream = (
        _randn((B, T, H, V), gen, dtype),
        _randn((B, H, K, state_width * V), gen, state_dtype),
    )
    return inputs, upstream


def _leaves(tensors: dict[str, torch.Tensor], grad: bool) -> dict[str, torch.Tensor]:
    """Detached copies that are autograd leaves, requiring grad when `grad`."""
    return {name: t.detach().requires_grad_(grad) for name, t in tensors.items()}


def _forward_backward(
    forward: Callable[[], tuple[torch.Tensor, ...]],
    leaves: dict[str, torch.Tensor],
    upstream: tuple[torch.Tensor, ...],
) -> Callable[[], None]:
    """The fwd+bwd call: clear grads, run forward, backpropagate `upstream` into the leaves."""

    def call() -> None:
        for t in leaves.values():
            t.grad = None
        outputs = forward()
        torch.autograd.backward(outputs, upstream)

    return call


def build_call(
    case: Case, rule: object | None, gen: torch.Generator, dtype: torch.dtype
) -> Callable[[], None]:
    """Make the inputs of `case` and return the call to time (inputs stay alive in its closure).

    `rule` is the registered rule object (None for SDPA); its call signature is
    `rule(q, k, v, beta, impl=..., initial_state=..., chunk_size=..., **gates) -> (o, state)`.
    """
    if case.form in FLA_FORMS:  # fla's kernels behind the rule's call signature
        rule = fla_rule(case.rule, case.form)
    grad = case.mode == "fwdbwd"
    B, T, H, K, V = case.B, case.T, case.H, case.K, case.V
    if case.rule == SDPA:
        leaves = _leaves(
            {
                "q": _randn((B, H, T, K), gen, dtype),  # [B, H, T, D]: SDPA's layout
                "k": _randn((B, H, T, K), gen, dtype),
                "v": _randn((B, H, T, V), gen, dtype),
            },
            grad,
        )

        def forward() -> tuple[torch.Tensor, ...]:
            q, k, v = leaves["q"], leaves["k"], leaves["v"]
            return (F.scaled_dot_product_attention(q, k, v, is_causal=True),)

        upstream: tuple[torch.Tensor, ...] = (_randn((B, H, T, V), gen, dtype),)
    else:
        if rule is None:
            raise ValueError(f"rule {case.rule!r} needs its rule object")
        steps = STEPS_PER_TOKEN.get(case.rule, 1)
        tensors, upstream = rule_inputs(
            getattr(rule, "gates", ()), B, T, H, K, V, gen, dtype, steps=steps,
            state_width=STATE_WIDTH.get(case.rule, 1),
        )  # fmt: skip
        leaves = _leaves(tensors, grad)

        def forward() -> tuple[torch.Tensor, ...]:
            q, k, v, beta = (leaves[name] for name in ("q", "k", "v", "beta"))
            rest = {name: t for name, t in leaves.items() if name not in ("q", "k", "v", "beta")}
            out = rule(q, k, v, beta, impl=case.form, chunk_size=case.chunk_size, **rest)
            return out[0], out[1]  # (o, final state)

    if grad:
        return _forward_backward(forward, leaves, upstream)

    def forward_only() -> None:
        forward()

    return forward_only
