"""The kernels as rule forms: variable-length batches, the dtype contract, errors, lazy import,
and the NaN-fill switch the other kernel tests rely on.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import pytest
import torch

from fastweights.ops import RULES

LENGTHS = [1, 7, 16, 3]  # with chunk 16: a lone token, partial chunks, a whole chunk


@pytest.mark.parametrize("impl", ["triton_chunk", "triton_recurrent"])
def test_packed_sequences_within_budget(kernel_device, make_inputs, budget, impl) -> None:
    # cu_seqlens with per-sequence initial states: the kernel against the packed oracle
    N, total = len(LENGTHS), sum(LENGTHS)
    x = make_inputs("gated_delta", B=N, T=total, H=1, K=8, V=8, seed=7)
    inputs = {n: (t if n == "initial_state" else t[:1]).to(kernel_device) for n, t in x.items()}
    bounds = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], device=kernel_device)
    rule = partial(RULES["gated_delta"], cu_seqlens=bounds, chunk_size=16)
    assert not budget.misses(
        partial(rule, impl=impl), partial(rule, impl="recurrent"), inputs, torch.float32, seed=7
    )


def test_zero_initial_state_and_dtypes(kernel_device, make_inputs) -> None:
    x = make_inputs("delta", B=1, T=5, H=1, K=4, V=4, initial_state=False, seed=8)
    x = {n: t.to(kernel_device, torch.float16) for n, t in x.items()}
    out = RULES["delta"](**x, impl="triton_recurrent")
    assert out.o.dtype == torch.float16 and out.state.dtype == torch.float32
    expected = RULES["delta"](**x, impl="recurrent")
    torch.testing.assert_close(out.state, expected.state, rtol=1e-3, atol=1e-3)


def test_kernel_forms_are_listed_and_not_in_the_pytorch_forms() -> None:
    for name in ("sum", "delta", "gated_delta"):
        rule = RULES[name]
        chunk = {"triton_chunk"} if name != "sum" else set()  # no chunk kernel for sum
        assert set(rule.kernels) == {"triton_recurrent", *chunk}
        assert not set(rule.kernels) & set(rule.forms)
    available = r"available: recurrent, chunk, triton_chunk, triton_recurrent$"
    with pytest.raises(ValueError, match=available):
        RULES["delta"](*[torch.zeros(1, 2, 1, 4)] * 3, torch.ones(1, 2, 1), impl="fused")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"dtype": torch.float64}, TypeError, r"take torch.float32, .* got torch.float64"),
        ({"chunk_size": 20}, ValueError, r"chunk_size in \(16, 32, 64\), got 20"),
        ({"K": 300}, ValueError, r"K <= 256, got K=300"),
    ],
)
def test_bad_inputs_raise(kernel_device, make_inputs, options, error, match) -> None:
    dtype, chunk_size = options.get("dtype", torch.float32), options.get("chunk_size", 16)
    x = make_inputs("delta", B=1, T=3, H=1, K=options.get("K", 4), V=4, dtype=dtype, seed=9)
    with pytest.raises(error, match=match):
        RULES["delta"](**{n: t.to(kernel_device) for n, t in x.items()}, impl="triton_chunk",
                       chunk_size=chunk_size)  # fmt: skip


def test_cpu_tensors_need_the_interpreter(monkeypatch, make_inputs) -> None:
    from fastweights.ops.triton.common import check_kernel_inputs

    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match=r"needs CUDA tensors .*TRITON_INTERPRET=1.* got cpu"):
        check_kernel_inputs("delta", torch.zeros(2))


def test_nan_fill_switch_is_on_in_kernel_tests() -> None:
    from fastweights.ops.triton.common import empty, nan_filled

    assert torch.isnan(empty(3, dtype=torch.float32, device="cpu")).all()  # the autouse fixture
    with nan_filled(False):
        assert not torch.isnan(empty(3, dtype=torch.float16, device="cpu").fill_(0)).any()
    assert torch.isnan(empty(3, dtype=torch.bfloat16, device="cpu")).all()


def test_import_fastweights_does_not_import_triton() -> None:
    code = (
        "import sys, fastweights, fastweights.ops, fastweights.nn, fastweights.models; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'triton' "
        "or m.startswith('fastweights.ops.triton')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_autotune_switch_reads_0_or_1(monkeypatch) -> None:
    from fastweights.ops.triton.common import tuning

    for value, expected in (("1", True), ("0", False)):
        monkeypatch.setenv("FASTWEIGHTS_TRITON_AUTOTUNE", value)
        assert tuning() is expected
    monkeypatch.delenv("FASTWEIGHTS_TRITON_AUTOTUNE")
    assert tuning()
    monkeypatch.setenv("FASTWEIGHTS_TRITON_AUTOTUNE", "off")
    with pytest.raises(ValueError, match="must be 0 or 1, got 'off'"):
        tuning()
