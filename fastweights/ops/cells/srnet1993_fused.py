"""A memory-lean form of the 1993 self-referential net: no graph forward, writes undone after.

The scan over the step lets autograd keep the whole weight matrix ``W [R, N]`` at every
micro-step. Here the forward runs without a graph and keeps, per micro-step, only the activations
``h``, the value read ``val``, the write address ``mod`` and the change ``△`` (``O(T·M·R)``); the
backward walks back, undoes each write (``W_{s-1} = W_s − △_s g(mod_s)``), recomputes the
micro-step and differentiates it by hand::

    W_s = W_{s-1} + △ G_m:        ∂△ = ⟨∂W_s, G_m⟩,  ∂G_m = △ ∂W_s
    val_s = ⟨G_a, W_{s-1}⟩:       ∂W_{s-1} ∋ ∂val G_a,  ∂G_a = ∂val W_{s-1}
    G = exp(−d/τ), d = ‖p‖² − 2 p·A + ‖A‖²:   ∂d = −G ∂G / τ,  ∂p = 2 p Σ∂d − 2 ∂d A,
                                              ∂A = 2 A Σ_b ∂d − 2 ∂dᵀ p,  ∂τ = Σ G ∂G d / τ²
    h_s = act(W_{s-1} z_s):       ∂W_{s-1} ∋ ∂pre zᵀ,  ∂z = W_{s-1}ᵀ ∂pre

Tested equal to the scan of ``fastweights.ops.cells.srnet1993`` in float64, gradients included. It
saves memory, not time: every micro-step touches the whole ``[R, N]`` matrix in both directions,
and on CPU it ran about 1.4× slower than the scan.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def _distance(p: Tensor, A: Tensor) -> Tensor:
    """``‖p − a_j‖²`` for every address ``a_j``: ``p [B, n]``, ``A [R·N, n]`` -> ``[B, R·N]``."""
    return p.square().sum(-1, keepdim=True) - 2 * p @ A.T + A.square().sum(-1)


class _FusedSRNet(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, obs: Tensor, ev: Tensor, W0: Tensor, h0: Tensor, val0: Tensor,
        A: Tensor, tau: Tensor, cuts: tuple[int, ...], micro_steps: int,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
        pointer, ana, mod, out = _slices(cuts)
        B, T = obs.shape[:2]
        W, h, val = W0.clone(), h0, val0
        bias = W.new_ones(B, 1)
        hs = W.new_empty(T * micro_steps + 1, *h0.shape)
        vals = W.new_empty(T * micro_steps + 1, *val0.shape)
        hs[0], vals[0] = h0, val0
        ys = []
        for t in range(T):
            for m in range(micro_steps):
                s = t * micro_steps + m
                z = torch.cat([obs[:, t], ev[:, t], val, bias, h], dim=-1)
                h = _activate(torch.bmm(W, z.unsqueeze(-1)).squeeze(-1), pointer)
                g_read = torch.exp(-_distance(h[:, ana], A).clamp_min(0) / tau)
                val = (g_read * W.flatten(1)).sum(-1, keepdim=True)
                g_write = torch.exp(-_distance(h[:, mod], A).clamp_min(0) / tau)
                W.add_((h[:, -1:] * g_write).view_as(W))
                hs[s + 1], vals[s + 1] = h, val
            ys.append(h[:, out])
        ctx.save_for_backward(obs, ev, W, hs, vals, A, tau)
        ctx.cuts, ctx.micro_steps = cuts, micro_steps
        return torch.stack(ys, dim=1), W, h, val

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, d_y: Tensor, d_W_final: Tensor, d_h_final: Tensor, d_val_final: Tensor
    ) -> tuple[Tensor | None, ...]:
        obs, ev, W_final, hs, vals, A, tau = ctx.saved_tensors
        pointer, ana, mod, out = _slices(ctx.cuts)
        M = ctx.micro_steps
        B, T, n_obs = obs.shape
        n_ev = ev.shape[-1]
        W, d_W = W_final.clone(), d_W_final.clone()
        d_h, d_val = d_h_final.clone(), d_val_final.clone()
        d_obs, d_ev = torch.zeros_like(obs), torch.zeros_like(ev)
        d_A, d_tau = torch.zeros_like(A), torch.zeros_like(tau)
        bias = W.new_ones(B, 1)
        for t in reversed(range(T)):
            d_h[:, out] += d_y[:, t]
            for m in reversed(range(M)):
                s = t * M + m
                h_prev, val_prev, h = hs[s], vals[s], hs[s + 1]
                d_write = _distance(h[:, mod], A)
                g_write = torch.exp(-d_write.clamp_min(0) / tau)
                W.sub_((h[:, -1:] * g_write).view_as(W))  # W_{s-1}: undo this micro-step's write
                d_read = _distance(h[:, ana], A)
                g_read = torch.exp(-d_read.clamp_min(0) / tau)
                flat_d_W = d_W.flatten(1)
                d_delta = (flat_d_W * g_write).sum(-1, keepdim=True)
                grads_g = {"write": h[:, -1:] * flat_d_W, "read": d_val * W.flatten(1)}
                d_W.add_((d_val * g_read).view_as(W))  # val_s = ⟨g_read, W_{s-1}⟩
                for key, p, g, dist, where in (
                    ("read", h[:, ana], g_read, d_read, ana),
                    ("write", h[:, mod], g_write, d_write, mod),
                ):
                    d_dist = -g * grads_g[key] / tau * (dist > 0)
                    d_tau += (g * grads_g[key] * dist.clamp_min(0)).sum() / tau**2
                    d_h[:, where] += 2 * p * d_dist.sum(-1, keepdim=True) - 2 * d_dist @ A
                    d_A += 2 * A * d_dist.sum(0).unsqueeze(-1) - 2 * d_dist.T @ p
                d_h[:, -1:] += d_delta
                d_pre = d_h * _activation_slope(h, pointer)
                z = torch.cat([obs[:, t], ev[:, t], val_prev, bias, h_prev], dim=-1)
                d_W.baddbmm_(d_pre.unsqueeze(-1), z.unsqueeze(1))  # pre = W_{s-1} z
                d_z = torch.bmm(W.mT, d_pre.unsqueeze(-1)).squeeze(-1)
                d_obs[:, t] += d_z[:, :n_obs]
                d_ev[:, t] += d_z[:, n_obs : n_obs + n_ev]
                d_val = d_z[:, n_obs + n_ev : n_obs + n_ev + 1]
                d_h = d_z[:, n_obs + n_ev + 2 :].clone()
        return d_obs, d_ev, d_W, d_h, d_val, d_A, d_tau, None, None


def _slices(cuts: tuple[int, ...]) -> tuple[tuple[int, int], slice, slice, slice]:
    """``cuts = (first_pointer, last_pointer, ana_stop, out_start, out_stop)`` in ``h``."""
    first, last, ana_stop, out_start, out_stop = cuts
    return (first, last), slice(first, ana_stop), slice(ana_stop, last), slice(out_start, out_stop)


def _activate(pre: Tensor, pointer: tuple[int, int]) -> Tensor:
    first, last = pointer  # tanh | logistic (ana, mod) | tanh (△)
    return torch.cat(
        [pre[:, :first].tanh(), pre[:, first:last].sigmoid(), pre[:, last:].tanh()], dim=-1
    )


def _activation_slope(h: Tensor, pointer: tuple[int, int]) -> Tensor:
    first, last = pointer
    slope = 1 - h * h
    slope[:, first:last] = h[:, first:last] * (1 - h[:, first:last])
    return slope


def make_fused(cuts: tuple[int, ...], micro_steps: int) -> Callable[..., tuple[Tensor, ...]]:
    """The fused run of a net whose ``h`` splits at ``cuts`` (see ``srnet1993.make_cell``)."""

    def run(
        obs: Tensor, ev: Tensor, W0: Tensor, h0: Tensor, val0: Tensor, A: Tensor, tau: Tensor
    ) -> tuple[Tensor, ...]:
        return _FusedSRNet.apply(obs, ev, W0, h0, val0, A, tau, cuts, micro_steps)

    return run
