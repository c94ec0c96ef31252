"""The learning-rule contract: a rule is its one-token ``step``; every form shares one call.

``LearningRule.__call__(q, k, v, beta, *, impl, scale, initial_state, chunk_size, cu_seqlens,
**gates) -> Output(o, state)`` checks the inputs, owns the precision (autocast off; float32
compute and state, float64 kept; output in the input dtype), resolves the query scale, unpacks
variable-length batches, and runs the form the caller named. There is no fallback: a form the
rule lacks is an error. Kernel forms (``kernels``, the Triton kernels) own their input precision:
the inputs reach them in the caller's dtypes (bf16/fp16 stay so), with a float32 state.

``LearningRule.layer`` (a ``RuleSpec``) says how the rule becomes a layer
(``fastweights.nn.FastWeightLayer``): the feature map and normalisation of q and k, and whether β
is learned. It lives in the rule's file, so adding a rule is its file plus one line in ``RULES``.

Layouts: ``q, k: [B, T, H, K]``, ``v: [B, T, H, V]``, ``beta: [B, T, H]`` (or ``[B, T, H, V]``),
gates ``[B, T, H]``, state ``S: [B, H, K, V]`` (``S = Wᵀ`` of the papers, so ``o_t = S_tᵀ q_t``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from fastweights.ops.checks import check_chunk_size, check_rule_inputs
from fastweights.ops.feature_maps import FEATURE_MAPS


class Output(NamedTuple):
    """What every rule form returns: outputs ``o [B, T, H, V]`` and final ``state [B, H, K, V]``."""

    o: Tensor
    state: Tensor


class Step(Protocol):
    def __call__(
        self, S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor, **gates: Tensor
    ) -> tuple[Tensor, Tensor]: ...


# A form maps checked compute-dtype inputs, a state and the query scale to (o, state).
Form = Callable[..., tuple[Tensor, Tensor]]


def value_rate(beta_t: Tensor, v_t: Tensor) -> Tensor:
    """Broadcast a rate ``[.., H]`` or per-channel ``[.., H, V]`` against a value ``[.., H, V]``."""
    return beta_t if beta_t.dim() == v_t.dim() else beta_t.unsqueeze(-1)


def scan(
    step: Step, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, **gates: Tensor
) -> tuple[Tensor, Tensor]:
    """The recurrent reference: ``step`` token by token (the oracle of every faster form)."""
    # unbind once: indexing x[:, t] inside the loop would make the backward pass quadratic in T
    per_token = [x.unbind(1) for x in (q, k, v, beta, *gates.values())]
    outputs = []
    for q_t, k_t, v_t, beta_t, *gates_t in zip(*per_token, strict=True):
        o_t, state = step(state, q_t, k_t, v_t, beta_t, **dict(zip(gates, gates_t, strict=True)))
        outputs.append(o_t)
    return torch.stack(outputs, dim=1), state


def recurrent(step: Step) -> Form:
    """The recurrent form of a rule: a scan over its step (``chunk_size`` does not apply)."""

    def form(
        q: Tensor,
        k: Tensor,
        v: Tensor,
        beta: Tensor,
        state: Tensor,
        *,
        chunk_size: int,
        scale: float,
        **gates: Tensor,
    ) -> tuple[Tensor, Tensor]:
        return scan(step, q * scale, k, v, beta, state, **gates)

    return form


def per_channel_as_heads(
    form: Callable[..., tuple[Tensor, Tensor]], q: Tensor, k: Tensor, v: Tensor, beta: Tensor,
    state: Tensor, *, chunk_size: int, scale: float, g: Tensor | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """A (gated) delta form with per-channel rates ``β [B, T, H, V]``, run by ``form`` (which
    takes per-head rates): value channel ``j`` of head ``h`` is its own delta rule with ``V = 1``,
    so it becomes head ``h·V + j`` (``[B, T, H, D] -> [B, T, H·V, D]``)."""
    B, T, H, K = q.shape
    V = v.shape[-1]

    def per_channel(x: Tensor) -> Tensor:
        return x.unsqueeze(3).expand(B, T, H, V, *x.shape[3:]).reshape(B, T, H * V, -1)

    o, S = form(
        per_channel(q), per_channel(k), v.reshape(B, T, H * V, 1), beta.reshape(B, T, H * V),
        state.mT.reshape(B, H * V, K, 1), chunk_size=chunk_size, scale=scale,
        g=None if g is None else per_channel(g.unsqueeze(-1)).squeeze(-1),
    )  # fmt: skip
    return o.reshape(B, T, H, V), S.reshape(B, H, V, K).mT


def _pack_to_batch(x: Tensor, lengths: list[int]) -> Tensor:
    # [1, ΣT, ...] -> [N, max T, ...], zero-padded at the end: a zero token (k = 0, β = 0, g = 0)
    # leaves the state of every rule unchanged, so padded runs end in the right final state.
    return pad_sequence(list(x[0].split(lengths)), batch_first=True)


def _batch_to_pack(x: Tensor, lengths: list[int]) -> Tensor:
    # [N, max T, ...] -> [1, ΣT, ...]
    return torch.cat([x[i, :n] for i, n in enumerate(lengths)]).unsqueeze(0)


@dataclass(frozen=True)
class RuleSpec:
    """How a rule becomes a layer: the defaults of ``fastweights.nn.FastWeightLayer``'s slow net.

    ``q, k = norm(feature_map(W_q x)), norm(feature_map(W_k x))`` (names in
    ``fastweights.ops.FEATURE_MAPS``; ``norm`` None for none) and ``β = σ(w_β x)`` if
    ``learn_beta``, else ``β = 1``.
    """

    feature_map: str = "identity"
    norm: str | None = "l2"
    learn_beta: bool = True

    def __post_init__(self) -> None:
        for what, name in (("feature_map", self.feature_map), ("norm", self.norm)):
            if name is not None and name not in FEATURE_MAPS:
                known = ", ".join(sorted(FEATURE_MAPS))
                raise ValueError(f"RuleSpec.{what}: unknown {name!r}; known: {known}")


@dataclass(frozen=True)
class LearningRule:
    """A fast-weight learning rule: its step, its forms, its gates; call it to run a form."""

    name: str
    step: Step
    forms: Mapping[str, Form]
    gates: tuple[str, ...] = ()
    per_channel_beta: bool = True
    # forms that own their input precision and run only where their kernels do (e.g. CUDA);
    # kept apart from ``forms``, the PyTorch forms held to the fp64 contract on any device
    kernels: Mapping[str, Form] = field(default_factory=dict)
    layer: RuleSpec = RuleSpec()  # the layer defaults (feature map, normalisation, learned β)

    def __call__(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        beta: Tensor,
        *,
        impl: str,
        scale: float | None = None,
        initial_state: Tensor | None = None,
        chunk_size: int = 64,
        cu_seqlens: Tensor | None = None,
        **gates: Tensor,
    ) -> Output:
        form = self.forms.get(impl) or self.kernels.get(impl)
        if form is None:
            available = ", ".join([*self.forms, *self.kernels])
            raise ValueError(f"rule {self.name!r} has no {impl!r} form; available: {available}")
        unknown = sorted(set(gates) - set(self.gates))
        missing = sorted(set(self.gates) - set(gates))
        if unknown or missing:
            raise TypeError(
                f"rule {self.name!r} takes gates {list(self.gates)}, "
                f"got unknown {unknown} and missing {missing}"
            )
        chunk_size = check_chunk_size(chunk_size)
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)):
            raise TypeError(f"scale must be a number or None, got {type(scale).__name__}")
        lengths = check_rule_inputs(
            self.name, q, k, v, beta, gates, initial_state, cu_seqlens,
            per_channel_beta=self.per_channel_beta,
        )  # fmt: skip

        out_dtype = q.dtype
        dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
        scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
        with torch.autocast(q.device.type, enabled=False):
            if impl in self.forms:  # a kernel form takes its inputs as they come
                q, k, v, beta = (x.to(dtype) for x in (q, k, v, beta))
                gates = {name: gate.to(dtype) for name, gate in gates.items()}
            if lengths is not None:
                q, k, v, beta = (_pack_to_batch(x, lengths) for x in (q, k, v, beta))
                gates = {name: _pack_to_batch(gate, lengths) for name, gate in gates.items()}
            if initial_state is None:
                B, _, H, K = q.shape
                state = q.new_zeros(B, H, K, v.shape[-1], dtype=dtype)
            else:
                state = initial_state.to(dtype)
            o, state = form(q, k, v, beta, state, chunk_size=chunk_size, scale=scale, **gates)
            if lengths is not None:
                o = _batch_to_pack(o, lengths)
        return Output(o.to(out_dtype), state)
