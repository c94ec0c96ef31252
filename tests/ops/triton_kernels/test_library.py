"""The ``torch.library`` registration of the kernels (``fastweights.ops.triton.library``).

``opcheck`` tests each custom op's schema, fake (meta) implementation, autograd registration and
AOT dispatch (with dynamic shapes) against the real kernels; a small model calling a rule with
``impl="triton_chunk"`` compiles with ``torch.compile(fullgraph=True)`` and matches eager mode. On
CPU the compile test uses the ``aot_eager`` backend (the custom ops stay opaque calls into the
interpreted kernels; inductor's own code generation is not exercised there); on a GPU it
uses inductor.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


def _args(kernel_device, gated: bool, T: int = 5) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(10)
    B, H, K, V = 1, 2, 16, 16

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(kernel_device)

    q, k = F.normalize(randn(B, T, H, K), dim=-1), F.normalize(randn(B, T, H, K), dim=-1)
    beta = torch.sigmoid(randn(B, T, H))
    g = F.logsigmoid(randn(B, T, H) + 2) if gated else None
    return q, k, randn(B, T, H, V), beta, g, randn(B, H, K, V)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["recurrent", "chunk"])
def test_opcheck(kernel_device, op) -> None:
    from fastweights.ops.triton import library

    args = _args(kernel_device, gated=True, T=17)
    leaves = [x.requires_grad_() for x in args if x is not None]
    assert len(leaves) == 6
    if op == "recurrent":
        result = torch.library.opcheck(library.recurrent_fwd, (*args, 0.25, True))
    else:
        result = torch.library.opcheck(library.chunk_fwd, (*args, 0.25, 16))
    assert set(result.values()) == {"SUCCESS"}


def test_fake_implementations_give_shapes_and_dtypes(kernel_device) -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from fastweights.ops.triton import library

    with FakeTensorMode():
        q, k, v, beta, g, S0 = (torch.empty(x.shape) for x in _args("cpu", gated=True, T=20))
        o, S, *saved = library.chunk_fwd(q.half(), k.half(), v.half(), beta, g, S0, 0.25, 16)
        assert o.shape == v.shape and o.dtype == torch.float16
        assert S.shape == S0.shape and S.dtype == torch.float32
        assert saved[3].shape == (1, 2, 2, 16, 16)  # the states entering each of 2 chunks
        o, S, vbar = library.recurrent_fwd(q, k, v, beta, None, S0, 0.25, False)
        assert o.shape == v.shape and vbar.numel() == 0


@pytest.mark.slow
def test_model_compiles_fullgraph(kernel_device) -> None:
    from fastweights.ops import RULES

    torch.manual_seed(0)  # the model's initial weights only
    proj = torch.nn.Linear(16, 3 * 32 + 4).to(kernel_device)

    def model(x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = (
            F.normalize(t.view(B, T, 2, 16), dim=-1) for t in proj(x)[..., :96].split(32, -1)
        )
        beta, g = proj(x)[..., 96:98].sigmoid(), F.logsigmoid(proj(x)[..., 98:100] + 2)
        o, S = RULES["gated_delta"](q, k, v, beta, g=g, impl="triton_chunk", chunk_size=16)
        return o.square().mean() + S.square().mean()

    backend = "inductor" if kernel_device == "cuda" else "aot_eager"
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    x = torch.randn(1, 20, 16, generator=torch.Generator().manual_seed(11)).to(kernel_device)
    eager_loss = model(x)
    eager_grads = torch.autograd.grad(eager_loss, list(proj.parameters()))
    loss = compiled(x)
    grads = torch.autograd.grad(loss, list(proj.parameters()))
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-6)
    for grad, expected in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
