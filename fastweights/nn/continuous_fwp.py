"""A continuous-time FWP classifier for irregularly sampled series (arXiv:2206.01649).

Irie, Faccio, Schmidhuber, "Neural Differential Equations for Learning to Program Neural Nets
Through Continuous Learning Rules", NeurIPS 2022. The slow net maps the control path ``x(t)``
(piecewise linear through the observations, ``fastweights.ops.continuous.LinearPath``) to
``q(t), k(t), v(t), β(t)``; the fast weights follow the rule's vector field,
``dS/dt = β k (v − Sᵀk)ᵀ`` for the delta rule, from ``S = 0`` at the batch's first observation
time to its last, ``T``; the series is classified from ``o = S(T)ᵀ q(T)`` (per head, concatenated)
by a linear head. ``method="discrete"`` runs the same slow net through the discrete rule
(``RULES[rule]``, one step per observation, times ignored except as an input channel): the
discrete-time counterpart with the same parameters.

This is a standalone model, not a mixer: a mixer maps a regular token sequence ``[B, T, D]`` to
one output per token with a carried state, while this reads observation times and answers once
per series. ``x [B, T, C]`` carries each observation's time in channel ``time_channel`` (the
time is also an input of the slow net, as in neural CDEs); times must increase along each row.

``time_scale`` sets the solver's time unit: the ODE runs in ``s = time_scale · t`` (and
``step_size`` is in units of ``s``). With unit-norm keys and ``β ∈ (0, 1)`` a unit of ``s`` writes
about as much as one discrete step, so a ``time_scale`` near the number of observations per unit
time gives the fast weights the discrete rule's write strength (with ``time_scale=1`` on series
spanning ``[0, 1]`` they barely change).

``values_from="derivative"`` is the CDE variant: the values come from the path's derivative,
``v = A dX/ds`` (a separate linear map ``A``), so a write follows how fast the input changes;
keys, rates and the query still read ``x(s)``. Its discrete form uses the increments towards the
next observation per unit of ``s`` (0 after the last).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.ops import RULES
from fastweights.ops.continuous import FIELDS, METHODS, LinearPath, solve


class ContinuousFWPClassifier(nn.Module):
    """``forward(x [B, T, C]) -> (logits [B, n_out], S(T) [B, H, K, K])``."""

    def __init__(
        self,
        d_input: int,
        n_out: int,
        *,
        n_heads: int = 2,
        d_head: int = 16,
        rule: str = "delta",
        method: str = "rk4",
        step_size: float | None = 0.05,
        adjoint: bool = False,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        time_channel: int = 0,
        time_scale: float = 1.0,
        values_from: str = "path",
    ) -> None:
        super().__init__()
        if rule not in FIELDS:
            raise ValueError(f"unknown rule {rule!r}; expected one of {sorted(FIELDS)}")
        if method not in (*METHODS, "discrete"):
            raise ValueError(f"unknown method {method!r}; expected one of {(*METHODS, 'discrete')}")
        if not 0 <= time_channel < d_input:
            raise ValueError(f"time_channel must be in [0, {d_input}), got {time_channel}")
        self.n_heads, self.d_head, self.rule, self.method = n_heads, d_head, rule, method
        self.solver = {"step_size": step_size, "rtol": rtol, "atol": atol, "adjoint": adjoint}
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_channel, self.time_scale = time_channel, time_scale
        if values_from not in ("path", "derivative"):
            raise ValueError(f"values_from must be 'path' or 'derivative', got {values_from!r}")
        self.values_from = values_from
        self.project = nn.Linear(d_input, n_heads * (3 * d_head + 1))  # the slow net: q, k, v, β
        # the CDE variant: values from the path's derivative, v = A dX/ds
        self.project_dx = (
            nn.Linear(d_input, n_heads * d_head) if values_from == "derivative" else None
        )
        self.head = nn.Linear(n_heads * d_head, n_out)

    def rule_inputs(
        self, x: Tensor, dx: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``x [..., C]`` (and, with ``values_from="derivative"``, ``dx`` its derivative or
        increments) -> ``q, k [..., H, D]`` (unit norm), ``v [..., H, D]``, ``β [..., H]``."""
        H, D = self.n_heads, self.d_head
        q, k, v, beta = self.project(x).split([H * D, H * D, H * D, H], dim=-1)
        if self.project_dx is not None:
            if dx is None:
                raise ValueError("values_from='derivative' needs the path's derivative dx")
            v = self.project_dx(dx)
        q = F.normalize(q.unflatten(-1, (H, D)), dim=-1)  # [..., H*D] -> [..., H, D]
        k = F.normalize(k.unflatten(-1, (H, D)), dim=-1)
        return q, k, v.unflatten(-1, (H, D)), torch.sigmoid(beta)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim != 3:
            raise ValueError(f"expected observations [B, T, C], got shape {tuple(x.shape)}")
        B = x.shape[0]
        zeros = x.new_zeros(B, self.n_heads, self.d_head, self.d_head)
        if self.method == "discrete":
            dx = None
            if self.project_dx is not None:
                times = x[..., self.time_channel : self.time_channel + 1] * self.time_scale
                # increments per unit of solver time towards the next observation, 0 after the last
                dx = (x[:, 1:] - x[:, :-1]) / (times[:, 1:] - times[:, :-1])  # [B, T-1, C]
                dx = torch.cat([dx, torch.zeros_like(x[:, :1])], 1)  # [B, T, C]
            q, k, v, beta = self.rule_inputs(x, dx)
            out = RULES[self.rule](q, k, v, beta, impl="recurrent", scale=1.0, initial_state=zeros)
            o, state = out.o[:, -1], out.state  # [B, H, D]: the read at the last observation
        else:
            times = x[..., self.time_channel] * self.time_scale  # [B, T], in solver units
            path = LinearPath(times, x)
            span = torch.stack([times[:, 0].min(), times[:, -1].max()])  # [2]
            params = [*self.project.parameters()]
            if self.project_dx is not None:
                params += self.project_dx.parameters()
            state = solve(
                self.rule,
                lambda x_t, dx_t=None: self.rule_inputs(x_t, dx_t)[1:],
                path,
                zeros,
                span,
                method=self.method,
                step_size=self.solver["step_size"],
                rtol=self.solver["rtol"],
                atol=self.solver["atol"],
                adjoint=self.solver["adjoint"],
                adjoint_params=tuple(params),
                derivative=self.project_dx is not None,
            )[-1]  # [B, H, D, D]
            q = self.rule_inputs(path(span[-1]), path.derivative(span[-1]))[0]  # [B, H, D]
            o = (q.unsqueeze(-2) @ state).squeeze(-2)  # [B, H, D]
        return self.head(o.flatten(1)), state
