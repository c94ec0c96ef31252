"""The SRWM Triton kernel (``fastweights.ops.triton.srwm``) against the PyTorch recurrent scan.

The real kernels run: on CUDA where there is a GPU, else through Triton's interpreter on CPU
(``conftest.py`` sets ``TRITON_INTERPRET=1`` at collection; kernel modules are imported inside
the tests, never at module level). Every fresh kernel buffer is NaN-filled (conftest's autouse
``nan_fill``), so a read of memory nobody wrote shows as a non-finite result. Tolerances are
derived from the data (``error_budget``): per tensor, a multiple of the error that the float32
scan (inputs rounded to the kernel's dtype) makes against the float64 scan on the same inputs.
Interpreter shapes are tiny (each reduction costs about a millisecond there); the GPU-only test
runs a real shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from fastweights.ops import CELLS
from fastweights.ops.cells import srwm

NAMES = ("W_y", "W_q", "W_k", "w_b")
Fn = Callable[..., tuple[Tensor, tuple[Tensor, ...]]]


def _inputs(
    B: int, T: int, H: int, D: int, *, Y: int | None = None, seed: int = 0, device: str = "cpu"
) -> dict[str, Tensor]:
    """float64 ``x [B, T, H, D]`` and an initial state (``W_y`` with ``Y`` rows if given)."""
    gen = torch.Generator().manual_seed(seed)
    x, state, _ = srwm.example(B, T, gen, heads=H, d=D)
    if Y is not None:  # e.g. SR-Delta's W_y emits 3D + 1 values
        state = state._replace(W_y=D**-0.5 * torch.randn(B, H, Y, D, generator=gen).double())
    return {"x": x.to(device)} | {n: W.to(device) for n, W in zip(NAMES, state, strict=True)}


def _kernel(x: Tensor, *state: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    y, final = CELLS["srwm"](x, srwm.State(*state), impl="triton_recurrent")
    return y, tuple(final)


def _scan(x: Tensor, *state: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The recurrent reference; a low-precision ``x`` is computed in the state's dtype."""
    y, final = CELLS["srwm"](x.to(state[0].dtype), srwm.State(*state), impl="recurrent")
    return y.to(x.dtype), tuple(final)


def _cotangents(inputs: dict[str, Tensor], Y: int, seed: int = 1) -> list[Tensor]:
    """Random float64 ``∂y`` and ``∂`` of every final-state tensor (the loss is Σ out·cot)."""
    gen = torch.Generator().manual_seed(seed)
    B, T, H, _ = inputs["x"].shape
    shapes = [(B, T, H, Y), *(inputs[n].shape for n in NAMES)]
    return [torch.randn(s, generator=gen).double().to(inputs["x"].device) for s in shapes]


def _results(
    fn: Fn, inputs: dict[str, Tensor], cot: list[Tensor], x_dtype: torch.dtype
) -> dict[str, Tensor]:
    """``y``, the final state and the gradients of ``x`` and the initial state, as float64."""
    state_dtype = torch.float64 if x_dtype == torch.float64 else torch.float32
    leaves = {
        n: t.detach().to(x_dtype if n == "x" else state_dtype).requires_grad_()
        for n, t in inputs.items()
    }
    y, final = fn(*leaves.values())
    outputs = [y, *final]
    loss = sum((out.double() * c).sum() for out, c in zip(outputs, cot, strict=True))
    grads = torch.autograd.grad(loss, list(leaves.values()))
    results = {n: out.detach().double() for n, out in zip(("y", *NAMES), outputs, strict=True)}
    return results | {f"d{n}": g.double() for n, g in zip(leaves, grads, strict=True)}


def _misses_against_scan(inputs: dict[str, Tensor], dtype: torch.dtype, budget) -> list[str]:
    cot = _cotangents(inputs, inputs["W_y"].shape[-2])
    exact = _results(_scan, inputs, cot, torch.float64)
    allowed = budget.derive(_results(_scan, inputs, cot, dtype), exact, dtype)
    return budget.check(_results(_kernel, inputs, cot, dtype), exact, allowed)


CASES = {
    "B2-H2-D16-T8": dict(B=2, T=8, H=2, D=16),
    "D5-Y16-T9": dict(B=1, T=9, H=2, D=5, Y=16),  # nothing a power of two; W_y as SR-Delta's
    "T30": dict(B=1, T=30, H=1, D=16),
    "T1": dict(B=1, T=1, H=1, D=3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_the_scan_outputs_state_and_gradients(case, kernel_device, budget) -> None:
    assert not _misses_against_scan(
        _inputs(**CASES[case], device=kernel_device), torch.float32, budget
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_low_precision_inputs(dtype, kernel_device, budget) -> None:
    if dtype == torch.bfloat16 and kernel_device == "cpu":
        pytest.skip("the interpreter computes bfloat16 wrongly (a Triton bug); checked on GPU")
    inputs = _inputs(B=1, T=10, H=1, D=8, seed=5, device=kernel_device)
    inputs["x"] = inputs["x"].softmax(-1)  # the paper's input softmax: x in [0, 1]
    assert not _misses_against_scan(inputs, dtype, budget)


def test_real_shape_on_gpu(kernel_device, budget) -> None:
    if kernel_device == "cpu":
        pytest.skip("a real shape is too slow for the interpreter; runs on CUDA")
    inputs = _inputs(B=2, T=512, H=4, D=64, seed=7, device=kernel_device)
    inputs["x"] = inputs["x"].softmax(-1)
    assert not _misses_against_scan(inputs, torch.float32, budget)


def test_stateful_segments_equal_one_call_and_the_form_is_registered(kernel_device) -> None:
    inputs = _inputs(B=1, T=8, H=2, D=6, seed=2, device=kernel_device)
    x, state = inputs["x"].float(), srwm.State(*(inputs[n].float() for n in NAMES))
    y, final = CELLS["srwm"](x, state, impl="triton_recurrent")
    y1, mid = CELLS["srwm"](x[:, :3], state, impl="triton_recurrent")
    y2, final2 = CELLS["srwm"](x[:, 3:], mid, impl="triton_recurrent")
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-6, atol=1e-6)
    for a, b in zip(final2, final, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert isinstance(final, srwm.State) and y.dtype == torch.float32
    # nothing requires grad here, so the form ran without keeping the backward's updates
    from fastweights.ops.triton import srwm as kernel

    y_kept, *_, e, k = kernel.srwm_fwd(x, *state, True)
    y_lean, *_, e0, k0 = kernel.srwm_fwd(x, *state, False)
    assert torch.equal(y_kept, y) and torch.equal(y_lean, y)
    assert e.shape == (2, 8, 3 * 6 + 4) and k.shape == (2, 8, 6) and e0.numel() == k0.numel() == 0
    assert set(CELLS["srwm"].kernels) == {"triton_recurrent"}
    assert not set(CELLS["srwm"].kernels) & set(CELLS["srwm"].forms)
    with pytest.raises(ValueError, match=r"available: recurrent, fused, triton_recurrent$"):
        CELLS["srwm"](x, state, impl="nonesuch")


def test_backward_keeps_o_T_d_not_the_past_weights(kernel_device) -> None:
    """The autograd graph saves x, the final state, e_t [R] and k_t [D]: no [T, R, D] tensor."""
    B, T, H, D = 1, 12, 1, 16
    R = 3 * D + 4
    inputs = _inputs(B, T, H, D, seed=3, device=kernel_device)
    x = inputs["x"].float().requires_grad_()
    state = srwm.State(*(inputs[n].float().requires_grad_() for n in NAMES))

    def saved_sizes(impl: str) -> list[int]:
        sizes: list[int] = []
        pack = lambda t: sizes.append(t.numel()) or t  # noqa: E731
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y, final = CELLS["srwm"](x, state, impl=impl)
        (y.sum() + sum(W.sum() for W in final)).backward()  # the graph is complete and runs
        return sizes

    kernel = saved_sizes("triton_recurrent")
    assert max(kernel) < T * D * D  # not even one [T, D, D] block of past weights
    assert sum(kernel) == B * H * (T * D + R * D + T * (R + D))  # x, W_T, e_t, k_t
    assert sum(saved_sizes("recurrent")) > T * R * D  # what the scan keeps instead


def test_bad_inputs_are_errors(kernel_device, monkeypatch) -> None:
    from fastweights.ops.triton.srwm import srwm_triton

    inputs = _inputs(B=1, T=2, H=1, D=4, device=kernel_device)
    x, state = inputs["x"].float(), [inputs[n].float() for n in NAMES]
    with pytest.raises(TypeError, match="float64"):
        srwm_triton(x.double(), *state)
    with pytest.raises(TypeError, match=r"keeps the state in float32, W_q is torch\.float16"):
        srwm_triton(x, state[0], state[1].half(), *state[2:])
    with pytest.raises(ValueError, match=r"w_b must be \[1, 1, 4, 4\], got \(1, 1, 4, 3\)"):
        srwm_triton(x, *state[:3], state[3][..., :3])
    with pytest.raises(ValueError, match=r"x must be \[B, T, H, D\]"):
        srwm_triton(x[0], *state)
    if kernel_device == "cpu":  # without the interpreter, CPU tensors are refused
        monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="needs CUDA tensors" if kernel_device == "cpu" else "on"):
        srwm_triton(x.cpu() if kernel_device == "cpu" else x, *(W.cpu() for W in state))


def test_custom_ops_pass_opcheck(kernel_device) -> None:
    """Schema, fake (meta) implementation, autograd registration and AOT dispatch of both ops."""
    from fastweights.ops.triton import srwm as kernel

    inputs = _inputs(B=1, T=2, H=1, D=4, seed=4, device=kernel_device)
    args = [inputs["x"].float().requires_grad_()] + [
        inputs[n].float().requires_grad_() for n in NAMES
    ]
    assert set(torch.library.opcheck(kernel.srwm_fwd, [*args, True]).values()) == {"SUCCESS"}
    _, *final, e, k = kernel.srwm_fwd(*(a.detach() for a in args), True)
    grads = [torch.randn_like(t) for t in (inputs["x"].float(), *final)]
    bwd_args = [args[0].detach(), *final, e, k, *grads]
    # the backward op has no autograd of its own (no double backward)
    checks = ("test_schema", "test_faketensor")
    assert torch.library.opcheck(kernel.srwm_bwd, bwd_args, test_utils=checks) == {
        name: "SUCCESS" for name in checks
    }


def test_fullgraph_compile_traces_the_form(kernel_device) -> None:
    """``torch.compile(fullgraph=True)`` (aot_eager: the custom op stays opaque) equals eager."""
    inputs = _inputs(B=1, T=4, H=1, D=4, seed=6, device=kernel_device)

    def loss(x: Tensor, *state: Tensor) -> Tensor:
        y, final = CELLS["srwm"](x, srwm.State(*state), impl="triton_recurrent")
        return (y * y.cos()).sum() + sum(W.sin().sum() for W in final)

    leaves = [inputs["x"].float()] + [inputs[n].float() for n in NAMES]
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    results = []
    for fn in (loss, compiled):
        args = [t.clone().requires_grad_() for t in leaves]
        value = fn(*args)
        results.append([value.detach(), *torch.autograd.grad(value, args)])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert math.isfinite(results[1][0].item())
