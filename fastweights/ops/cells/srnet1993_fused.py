"""The lean form of the 1993 self-referential net: separable addresses, writes undone after.

**Why the read is a bilinear form.** g separates over the columns of an address:
``g(‖p − a‖²) = exp(−Σ_k (p_k − a_k)²/τ) = Π_k exp(−(p_k − a_k)²/τ)``. Split each address into
its leading ``n − L`` columns and its last ``L`` (``L = ⌊n/2⌋``) and number the connections by
their flat index ``f = (i − n_in)·N + j = c·2^L + l`` (``c = f >> L``, ``l = f mod 2^L``). The
net's addresses (``srnet1993.Layout.params``: the binary code of ``f``, most significant bit
first) have leading columns that are a function of ``c`` alone, ``Hi[c]`` (the code of ``c``),
and last columns a function of ``l`` alone, ``Lo[l]`` (the code of ``l``). Then, exactly::

    g(‖p − adr(f)‖²) = u_c v_l,   u = exp(−‖p_hi − Hi_c‖²/τ) [P],  v = exp(−‖p_lo − Lo_l‖²/τ) [2^L]

and with ``W`` seen as the matrix ``Ŵ [P, 2^L]`` of its flat entries (``Ŵ[c, l] = w_f``,
``P = ⌈R·N / 2^L⌉``, the ``P·2^L − R·N < 2^L`` entries past the last connection held at 0)::

    val_s = Σ_f g(‖ana_s − adr(f)‖²) w_f(s−1) = u_aᵀ Ŵ_{s−1} v_a        (read: two matvecs)
    Ŵ_s   = Ŵ_{s−1} + △_s u_m v_mᵀ                                     (write: rank one)

``Ŵ`` and ``W [R, N]`` are two views of one buffer (when ``2^L`` divides ``N``, as for the
layer of 4 heads of 32 where ``N = 128``, ``Ŵ`` rows are ``W`` rows). The ``R·N`` exponentials per
pointer become ``P + 2^L`` (about ``2√(R·N)``). This holds for any address table whose two
column blocks depend on ``c`` and ``l`` only; the form checks that of the ``addresses`` it gets
and raises ``ValueError`` otherwise (it never falls back; the check is skipped while
``torch.compile`` traces it). Heads are batched (they are the batch);
micro-steps are not: each reads the matrix the previous one wrote, so they stay a loop.

**Memory.** The forward runs without a graph and keeps per micro-step only ``h`` and ``val``
(``O(T·M·R)``); the backward undoes each write (``Ŵ_{s−1} = Ŵ_s − △_s u_m v_mᵀ``), recomputes
the micro-step and differentiates it by hand::

    Ŵ_s = Ŵ_{s−1} + △ u_m v_mᵀ:   ∂△ = u_mᵀ ∂Ŵ_s v_m,  ∂u_m = △ ∂Ŵ_s v_m,  ∂v_m = △ ∂Ŵ_sᵀ u_m
    val_s = u_aᵀ Ŵ_{s−1} v_a:     ∂Ŵ_{s−1} ∋ ∂val u_a v_aᵀ,  ∂u_a = ∂val Ŵ_{s−1} v_a,  ∂v_a = …ᵀ u_a
    u = exp(−D/τ), D_c = ‖p − C_c‖²:  ∂D = −u ∂u/τ,  ∂p = 2 Σ_c ∂D_c (p − C_c),  ∂τ = Σ u ∂u D/τ²
    h_s = act(W_{s−1} z_s):       ∂W_{s−1} ∋ ∂pre zᵀ,  ∂z = W_{s−1}ᵀ ∂pre

The gradient of each connection's own address (``addresses`` as a trainable input; the layer
keeps them fixed) is dense, ``∂adr(f) = Σ 2 ∂d_f (adr(f) − p)`` with ``∂d_f = −g_f ∂g_f/τ``, and is
computed only when asked for. Tested equal to the scan of ``fastweights.ops.cells.srnet1993`` in
float64, gradients included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


class Split(NamedTuple):
    """The address table as ``adr(c·2^L + l) = [Hi[c], Lo[l]]``, both blocks in one table of
    ``P + 2^L`` rows ``[Hi[c], 0]`` then ``[0, Lo[l]]`` (``M`` marks each row's block)."""

    Q: Tensor  # [2n, P + 2^L]  [Mᵀ; −2Cᵀ] / (−τ): the logits −D/τ = [p², p] Q + C2
    C2: Tensor  # [P + 2^L]     ‖C_c‖² / (−τ)
    MC: Tensor  # [P + 2^L, 2n] 2 [M, C] / (−τ): ∂p = p ⊙ (∂g MC)[:n] − (∂g MC)[n:], ∂g = u ∂u
    P: int
    L: int


def _block_bits(A: Tensor) -> int:
    F, n = A.shape
    return min(n // 2, F.bit_length() - 1)  # L: 2^L <= F, so every l has a row


def check_separable(A: Tensor) -> None:
    """ValueError unless ``A [R·N, n]``'s leading ``n − L`` columns depend on ``f >> L`` only and
    its last ``L`` on ``f mod 2^L`` only (what ``split_addresses`` assumes; the binary code of
    ``f`` does). Data-dependent: the form skips it while being traced by ``torch.compile``."""
    F, n = A.shape
    L = _block_bits(A)
    block, k = 1 << L, n - L
    f = torch.arange(F, device=A.device)
    if not (
        torch.equal(A[:, :k], A[::block, :k][f >> L]) and torch.equal(A[:, k:], A[f % block, k:])
    ):
        raise ValueError(
            f"the lean srnet1993 form needs separable addresses: columns 0..{k - 1} of a "
            f"connection f's address a function of f >> {L}, the rest of f mod {block} (the "
            "binary code of f is); these are not"
        )


def split_addresses(A: Tensor, tau: Tensor) -> Split:
    """The two column blocks of separable addresses ``A [R·N, n]`` (see ``check_separable``)."""
    n = A.shape[1]
    L = _block_bits(A)
    block, k = 1 << L, n - L
    hi, lo = A[::block, :k], A[:block, k:]
    P = hi.shape[0]
    C, mask = A.new_zeros(P + block, n), A.new_zeros(P + block, n)
    C[:P, :k], C[P:, k:] = hi, lo
    mask[:P, :k], mask[P:, k:] = 1, 1
    Q, MC = torch.cat([mask.T, -2 * C.T]), torch.cat([mask, C], 1)
    return Split(Q / -tau, C.square().sum(-1) / -tau, MC * (2 / -tau), P, L)


def _factors(p: Tensor, split: Split) -> tuple[Tensor, Tensor]:
    """``p [..., 2, n]`` (ana, mod) -> ``e [..., 2, P + 2^L]`` (``u = e[..., :P]``,
    ``v = e[..., P:]``) and its logits ``−D/τ``.

    ``D = ‖p_b‖² − 2 p_b·C_c + ‖C_c‖²``, the squared distance of each half of ``p`` to its
    block's codes, is one product (as the scan computes its distances), clamped at 0 against
    rounding."""
    n = p.shape[-1]
    x = torch.cat([p * p, p], dim=-1).view(-1, 2 * n)
    logits = torch.addmm(split.C2, x, split.Q).clamp_max_(0).view(*p.shape[:-1], -1)
    return logits.exp(), logits


class _LeanSRNet(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, obs: Tensor, ev: Tensor, W0: Tensor, h0: Tensor, val0: Tensor,
        A: Tensor, tau: Tensor, cuts: tuple[int, ...], micro_steps: int, gain: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
        (first, last), out = _slices(cuts)
        split = split_addresses(A, tau)
        B, T = obs.shape[:2]
        _, R, N = W0.shape
        buf, W, Wg = _buffer(W0, R, N, split.L)
        n, P, S = A.shape[1], split.P, T * micro_steps
        hs = W.new_empty(S + 1, *h0.shape)
        vals = W.new_empty(S + 1, B, 1, 1)  # [B, 1, 1] per micro-step: the bmm's own shape
        hs[0], vals[0, :, 0] = h0, val0
        h, val, bias = h0, val0, W.new_ones(B, 1)
        for t, (obs_t, ev_t) in enumerate(zip(obs.unbind(1), ev.unbind(1), strict=True)):
            for m in range(micro_steps):
                s = t * micro_steps + m + 1
                z = torch.cat([obs_t, ev_t, val, bias, h], dim=-1)  # [B, N]
                h = _activate(torch.bmm(z.unsqueeze(1), W.mT).view(B, R), first, last, hs[s])
                e, _ = _factors(h[:, first:last].view(B, 2, n), split)  # [B, 2, P + 2^L]
                # val = u_aᵀ Ŵ v_a: [B, 1, P] @ [B, P, 2^L] @ [B, 2^L, 1]
                torch.bmm(torch.bmm(e[:, :1, :P], Wg), e[:, 0, P:, None], out=vals[s])
                val = vals[s].view(B, 1)
                if gain:  # += △ u_m v_mᵀ (gain 0: the writes are off, W stays W_0)
                    Wg.addcmul_(h[:, -1:, None] * e[:, 1, :P, None], e[:, 1:, P:])
                _clear_tail(buf, R * N)
        ys = hs[micro_steps::micro_steps, :, out].transpose(0, 1).contiguous()  # [B, T, n_out]
        W_final = W.clone()
        ctx.save_for_backward(obs, ev, W_final, hs, vals, A, tau)
        ctx.cuts, ctx.micro_steps, ctx.split, ctx.gain = cuts, micro_steps, split, gain
        return ys, W_final, h.clone(), val.clone()

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, d_y: Tensor, d_W_final: Tensor, d_h_final: Tensor, d_val_final: Tensor
    ) -> tuple[Tensor | None, ...]:
        obs, ev, W_final, hs, vals, A, tau = ctx.saved_tensors
        (first, last), out = _slices(ctx.cuts)
        split, M, P = ctx.split, ctx.micro_steps, ctx.split.P
        B, T, n_obs = obs.shape
        n_x, (R, N), n, S = n_obs + ev.shape[-1], W_final.shape[1:], A.shape[1], T * M
        buf, W, Wg = _buffer(W_final, R, N, split.L)
        d_buf, d_W, d_Wg = _buffer(d_W_final, R, N, split.L)
        d_h, d_val = d_h_final.clone(), d_val_final.clone().view(B, 1, 1)
        d_x = obs.new_zeros(T, B, n_x)  # ∂[obs, eval] per token
        want_A, want_tau = ctx.needs_input_grad[5], ctx.needs_input_grad[6]
        d_A = torch.zeros_like(A) if want_A else None
        d_tau = torch.zeros_like(tau) if want_tau else None
        d_e = W.new_empty(B, 2, P + (1 << split.L))  # ∂u, ∂v of (ana, mod)
        # what the micro-steps' activations fix, for all of them at once ([S, B, ...], unbound):
        # z_s = [obs_t, eval_t, val_{s−1}, 1, h_{s−1}], act'(pre_s), the pointers and factors
        x = torch.cat([obs, ev], -1).repeat_interleave(M, 1).transpose(0, 1)  # [S, B, n_x]
        v_prev = vals[:-1, :, 0]
        zs = torch.cat([x, v_prev, torch.ones_like(v_prev), hs[:-1]], -1).unsqueeze(2).unbind(0)
        slopes = _activation_slope(hs[1:], first, last).unbind(0)
        p = hs[1:, :, first:last].reshape(S, B, 2, n)
        e, logits = _factors(p, split)  # [S, B, 2, P + 2^L]
        delta = hs[1:, :, -1:, None] * ctx.gain  # [S, B, 1, 1]: the △ written (0: no writes)
        E, Lg, Ps, Dl = e.unbind(0), logits.unbind(0), p.unbind(0), delta.unbind(0)
        Ua, Va = e[:, :, :1, :P].unbind(0), e[:, :, :1, P:].unbind(0)  # rows [B, 1, ·]
        Um, Vm = e[:, :, 1:, :P].unbind(0), e[:, :, 1:, P:].unbind(0)
        undo = (delta * e[:, :, 1, :P, None]).neg_().unbind(0)  # −△ u_m: [B, P, 1]
        for t in reversed(range(T)):
            d_h[:, out] += d_y[:, t]
            for m in reversed(range(M)):
                s = t * M + m
                Wg.addcmul_(undo[s], Vm[s])  # Ŵ_{s−1} = Ŵ_s − △ u_m v_mᵀ
                _clear_tail(buf, R * N)
                dW_v = torch.bmm(Vm[s], d_Wg.mT)  # (∂Ŵ_s v_m)ᵀ [B, 1, P]
                d_delta = torch.bmm(dW_v, Um[s].mT) * ctx.gain  # u_mᵀ ∂Ŵ_s v_m [B, 1, 1]
                d_e[:, 1:, :P] = dW_v * Dl[s]
                d_e[:, 1:, P:] = torch.bmm(Um[s], d_Wg) * Dl[s]
                d_e[:, :1, :P] = torch.bmm(Va[s], Wg.mT) * d_val
                d_e[:, :1, P:] = torch.bmm(Ua[s], Wg) * d_val
                if want_A:  # before ∂Ŵ_s gains the read's term, while it is still ∂Ŵ_s
                    _address_grad(d_A, A, Ps[s], E[s], P, tau, d_val.view(B, 1) * buf,
                                  Dl[s].view(B, 1) * d_buf)  # fmt: skip
                d_Wg.addcmul_(Ua[s].mT * d_val, Va[s])  # val = u_aᵀ Ŵ_{s−1} v_a
                _clear_tail(d_buf, R * N)
                g = d_e.mul_(E[s])  # ∂g of every factor (g = its value)
                if want_tau:  # logits = −D/τ: ∂τ = Σ g D / τ² = −Σ g logits / τ
                    d_tau -= (g * Lg[s]).sum() / tau
                back = torch.matmul(g, split.MC)  # [B, 2, 2n]: [∂D M, ∂D C] of (ana, mod)
                d_h[:, first:last] += (Ps[s] * back[..., :n] - back[..., n:]).view(B, 2 * n)
                d_h[:, -1:] += d_delta.view(B, 1)
                d_pre = d_h.mul_(slopes[s])
                d_W.addcmul_(d_pre.unsqueeze(-1), zs[s])  # pre = W_{s−1} z
                d_z = torch.bmm(d_pre.unsqueeze(1), W)  # [B, 1, N]
                d_x[t] += d_z[:, 0, :n_x]
                d_val = d_z[:, :, n_x : n_x + 1]
                d_h = d_z[:, 0, n_x + 2 :]
        d_x = d_x.transpose(0, 1)
        return (d_x[..., :n_obs], d_x[..., n_obs:], d_W.clone(), d_h, d_val.view(B, 1), d_A,
                d_tau, None, None, None)  # fmt: skip


def _buffer(W: Tensor, R: int, N: int, L: int) -> tuple[Tensor, Tensor, Tensor]:
    """A fresh buffer ``[B, P·2^L]`` holding ``W`` (zeros past it) and its views ``W [B, R, N]``
    and ``Ŵ [B, P, 2^L]``."""
    B, block = W.shape[0], 1 << L
    P = -(-R * N // block)
    buf = W.new_zeros(B, P * block)
    view = buf[:, : R * N].view(B, R, N)
    view.copy_(W)
    return buf, view, buf.view(B, P, block)


def _clear_tail(buf: Tensor, F: int) -> None:
    if buf.shape[1] > F:  # the entries past the last connection: no weights, kept at 0
        buf[:, F:].zero_()


def _address_grad(
    d_A: Tensor, A: Tensor, p: Tensor, e: Tensor, P: int, tau: Tensor, d_g_read: Tensor,
    d_g_write: Tensor,
) -> None:  # fmt: skip
    """``∂adr(f) += Σ_b 2 ∂d_bf (adr(f) − p_b)`` for the read (0) and the write (1), densely."""
    F = A.shape[0]
    for i, d_g in ((0, d_g_read), (1, d_g_write)):
        g = (e[:, i, :P, None] * e[:, i, None, P:]).flatten(1)[:, :F]  # [B, P, 2^L] -> [B, F]
        d_d = -g * d_g[:, :F] / tau
        d_A += 2 * (A * d_d.sum(0).unsqueeze(-1) - d_d.T @ p[:, i])


def _slices(cuts: tuple[int, ...]) -> tuple[tuple[int, int], slice]:
    """``cuts = (first_pointer, last_pointer, out_start, out_stop)`` in ``h``."""
    first, last, out_start, out_stop = cuts
    return (first, last), slice(out_start, out_stop)


def _activate(pre: Tensor, first: int, last: int, out: Tensor) -> Tensor:
    """``h = act(pre)`` written into ``out``."""
    h = torch.tanh(pre, out=out)  # tanh | logistic (ana, mod) | tanh (△)
    h[:, first:last] = torch.sigmoid(pre[:, first:last])  # no out= into views (compile)
    return h


def _activation_slope(h: Tensor, first: int, last: int) -> Tensor:
    """``act'`` from ``h = act(pre)``, for ``h [..., R]``: ``1 − h²`` (tanh), ``h (1 − h)``."""
    slope = 1 - h * h
    slope[..., first:last] = h[..., first:last] * (1 - h[..., first:last])
    return slope


def make_fused(
    cuts: tuple[int, ...], micro_steps: int, writes: bool = True
) -> Callable[..., tuple[Tensor, ...]]:
    """The lean run of a net whose ``h`` splits at ``cuts`` (see ``srnet1993.make_lean_form``);
    ``writes=False``: the modification units' writes are not applied (the ablation)."""
    gain = 1.0 if writes else 0.0

    def run(
        obs: Tensor, ev: Tensor, W0: Tensor, h0: Tensor, val0: Tensor, A: Tensor, tau: Tensor
    ) -> tuple[Tensor, ...]:
        if not torch.compiler.is_compiling():
            check_separable(A)
        return _LeanSRNet.apply(obs, ev, W0, h0, val0, A, tau, cuts, micro_steps, gain)

    return run
