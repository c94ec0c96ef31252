"""Bad inputs to a learning rule raise ``TypeError``/``ValueError`` with a message that helps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from fastweights.ops import RULES

B, T, H, K, V = 2, 5, 2, 4, 3


def _inputs(name: str = "delta", **overrides: object) -> dict[str, object]:
    """Valid float64 inputs for ``RULES[name]``, with some replaced by ``overrides``."""
    gen = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    inputs: dict[str, object] = {
        "q": randn(B, T, H, K),
        "k": randn(B, T, H, K),
        "v": randn(B, T, H, V),
        "beta": torch.rand(B, T, H, generator=gen, dtype=torch.float64),
        "initial_state": randn(B, H, K, V),
    }
    inputs.update({gate: -torch.rand(B, T, H, dtype=torch.float64) for gate in RULES[name].gates})
    inputs.update(overrides)
    return {key: value for key, value in inputs.items() if value is not None}


def _call(name: str = "delta", impl: str = "recurrent", options: dict | None = None, **overrides):
    return RULES[name](**_inputs(name, **overrides), impl=impl, **(options or {}))


def test_valid_inputs_pass() -> None:
    # the baseline every error case perturbs must itself be accepted
    for name, rule in RULES.items():
        for form in rule.forms:
            out = _call(name, form)
            assert out.o.shape == (B, T, H, V)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"q": torch.zeros(B, T, H * K, dtype=torch.float64)}, r"q must be 4-D \[B, T, H, K\]"),
        ({"k": torch.zeros(B, T, H, K + 1, dtype=torch.float64)}, r"k must have shape"),
        ({"k": torch.zeros(B, T + 1, H, K, dtype=torch.float64)}, r"got \[2, 6, 2, 4\]"),
        ({"v": torch.zeros(B, T, H + 1, V, dtype=torch.float64)}, r"v must have shape"),
        ({"v": torch.zeros(B, T, H * V, dtype=torch.float64)}, r"v must have shape"),
        ({"beta": torch.ones(B, T, dtype=torch.float64)}, r"beta must have shape .*got \[2, 5\]"),
        ({"beta": torch.ones(B, T, H, V + 1, dtype=torch.float64)}, r"beta must have shape"),
        (
            {"initial_state": torch.zeros(B, H, V, K, dtype=torch.float64)},
            r"initial_state must have shape \[N, H, K, V\] = \[2, 2, 4, 3\], got \[2, 2, 3, 4\]",
        ),
        (
            {
                "q": torch.zeros(B, 0, H, K, dtype=torch.float64),
                "k": torch.zeros(B, 0, H, K, dtype=torch.float64),
                "v": torch.zeros(B, 0, H, V, dtype=torch.float64),
                "beta": torch.zeros(B, 0, H, dtype=torch.float64),
            },
            r"T must be >= 1, got 0",
        ),
    ],
    ids=[
        "q-3d",
        "k-width",
        "k-length",
        "v-heads",
        "v-3d",
        "beta-3d",
        "beta-channels",
        "state-transposed",
        "empty-sequence",
    ],
)
@pytest.mark.parametrize("impl", RULES["delta"].forms)
def test_bad_shapes_raise_value_error(overrides, match, impl) -> None:
    with pytest.raises(ValueError, match=match):
        _call("delta", impl, **overrides)


def test_gate_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"gated_delta: g must have shape \[B, T, H\]"):
        _call("gated_delta", g=-torch.ones(B, T, H, 1, dtype=torch.float64))


def test_per_channel_beta_rejected_where_not_supported() -> None:
    names = [name for name, rule in RULES.items() if not rule.per_channel_beta]
    assert names, "expected at least one rule without per-channel rates (oja)"
    for name in names:
        with pytest.raises(ValueError, match=rf"{name}: beta must have shape \[B, T, H\] ="):
            _call(name, beta=torch.ones(B, T, H, V, dtype=torch.float64))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"k": torch.zeros(B, T, H, K, dtype=torch.float32)}, r"share one dtype"),
        ({"v": torch.zeros(B, T, H, V, dtype=torch.bfloat16)}, r"share one dtype"),
        ({"q": torch.zeros(B, T, H, K, dtype=torch.int64)}, r"q must be a floating-point"),
        ({"beta": torch.ones(B, T, H, dtype=torch.int32)}, r"beta must be a floating-point"),
        (
            {"initial_state": torch.zeros(B, H, K, V, dtype=torch.int64)},
            r"initial_state must be a floating-point",
        ),
        ({"v": [[0.0] * V] * T}, r"v must be a torch.Tensor, got list"),
        ({"beta": 0.5}, r"beta must be a torch.Tensor, got float"),
        ({"initial_state": "zeros"}, r"initial_state must be a torch.Tensor, got str"),
    ],
    ids=[
        "k-float32",
        "v-bf16",
        "q-int",
        "beta-int",
        "state-int",
        "v-list",
        "beta-float",
        "state-str",
    ],
)
def test_bad_types_raise_type_error(overrides, match) -> None:
    with pytest.raises(TypeError, match=match):
        _call("delta", **overrides)


def test_non_tensor_query_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"q must be a torch.Tensor, got list"):
        _call("delta", q=[[0.0] * K] * T)


def test_gates_missing_or_unknown() -> None:
    with pytest.raises(TypeError, match=r"'gated_delta' takes gates \['g'\].*missing \['g'\]"):
        _call("gated_delta", g=None)
    with pytest.raises(TypeError, match=r"'delta' takes gates \[\].*unknown \['g'\]"):
        _call("delta", g=-torch.ones(B, T, H, dtype=torch.float64))


def test_unknown_or_missing_form_names_the_available_forms() -> None:
    with pytest.raises(ValueError, match=r"'delta' has no 'fused' form; available: recurrent"):
        _call("delta", "fused")
    for name, rule in RULES.items():
        if "chunk" not in rule.forms:
            available = ", ".join(rule.forms)
            with pytest.raises(ValueError, match=rf"no 'chunk' form; available: {available}$"):
                _call(name, "chunk")


# every form name means one algorithm for every rule: PyTorch or Triton, recurrent or chunkwise
FORM_NAMES = {"recurrent", "chunk", "triton_recurrent", "triton_chunk"}


def test_form_names_say_what_runs_and_triton_alone_is_no_form() -> None:
    for name, rule in RULES.items():
        assert set(rule.forms) <= {"recurrent", "chunk"}, name
        assert set(rule.kernels) <= {"triton_recurrent", "triton_chunk"}, name
        available = ", ".join([*rule.forms, *rule.kernels])
        with pytest.raises(ValueError, match=rf"no 'triton' form; available: {available}$"):
            _call(name, "triton")
    assert set(RULES["sum"].kernels) == {"triton_recurrent"}  # no chunk kernel for sum
    assert (
        set(RULES["delta"].kernels)
        == set(RULES["gated_delta"].kernels)
        == {
            "triton_recurrent",
            "triton_chunk",
        }
    )


@pytest.mark.parametrize(
    ("chunk_size", "error", "match"),
    [
        (0, ValueError, r"chunk_size must be > 0, got 0"),
        (-4, ValueError, r"chunk_size must be > 0, got -4"),
        (4.0, TypeError, r"chunk_size must be an int, got float"),
        (True, TypeError, r"chunk_size must be an int, got bool"),
    ],
)
def test_bad_chunk_size(chunk_size, error, match) -> None:
    for name, rule in RULES.items():
        for form in rule.forms:  # checked whether or not the form uses chunks
            with pytest.raises(error, match=match):
                _call(name, form, {"chunk_size": chunk_size})


@pytest.mark.parametrize(
    ("scale", "match"),
    [
        ("0.5", "got str"),
        (True, "got bool"),
        (torch.tensor(0.5), "got Tensor"),
        ([1.0], "got list"),
    ],
)
def test_bad_scale_type(scale, match) -> None:
    with pytest.raises(TypeError, match=rf"scale must be a number or None, {match}"):
        _call("delta", options={"scale": scale})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["beta", "g", "initial_state"])
def test_non_finite_small_inputs(field, bad) -> None:
    x = _inputs("gated_delta")
    x[field] = x[field].clone()
    x[field].view(-1)[3] = bad
    with pytest.raises(ValueError, match=rf"gated_delta: {field} contains NaN or inf"):
        RULES["gated_delta"](**x, impl="recurrent")


@pytest.mark.parametrize("field", ["q", "k", "v", "beta", "g", "initial_state"])
def test_mixed_devices(field) -> None:
    x = _inputs("gated_delta")
    x[field] = x[field].to("meta")
    with pytest.raises(ValueError, match=rf"on one device, got .*{field} on meta"):
        RULES["gated_delta"](**x, impl="recurrent")


def _packed() -> dict[str, object]:
    # one packed batch of ΣT = T = 5 tokens, without an initial state
    return {n: x[:1] for n, x in _inputs("delta", initial_state=None).items()}


@pytest.mark.parametrize(
    ("cu_seqlens", "error", "match"),
    [
        (torch.tensor([1, 2, 5]), ValueError, r"run from 0 to T=5, got \[1, 2, 5\]"),
        (torch.tensor([0, 2, 4]), ValueError, r"run from 0 to T=5, got \[0, 2, 4\]"),
        (torch.tensor([0]), ValueError, r"run from 0 to T=5"),
        (torch.tensor([0, 3, 3, 5]), ValueError, r"strictly increasing, got \[0, 3, 3, 5\]"),
        (torch.tensor([0, 4, 2, 5]), ValueError, r"strictly increasing"),
        (
            torch.tensor([0.0, 2.0, 5.0]),
            TypeError,
            r"1-D int32/int64 tensor, got 1-D torch.float32",
        ),
        (torch.tensor([[0, 2, 5]]), TypeError, r"1-D int32/int64 tensor, got 2-D torch.int64"),
        (torch.tensor([0, 2, 5], dtype=torch.int16), TypeError, r"int32/int64"),
        ([0, 2, 5], TypeError, r"cu_seqlens must be a torch.Tensor, got list"),
    ],
    ids=["start", "end", "single", "repeat", "decrease", "float", "2d", "int16", "list"],
)
def test_bad_cu_seqlens(cu_seqlens, error, match) -> None:
    with pytest.raises(error, match=match):
        RULES["delta"](**_packed(), impl="recurrent", cu_seqlens=cu_seqlens)


def test_cu_seqlens_needs_a_packed_batch_and_one_state_per_sequence() -> None:
    cu = torch.tensor([0, 2, 5])
    with pytest.raises(ValueError, match=r"packed as \[1, ΣT, H, D\], got B=2"):
        RULES["delta"](**_inputs("delta", initial_state=None), impl="recurrent", cu_seqlens=cu)
    x = _packed()
    x["initial_state"] = torch.zeros(1, H, K, V, dtype=torch.float64)  # needs one per sequence
    with pytest.raises(ValueError, match=r"initial_state must have shape \[N, H, K, V\] = \[2,"):
        RULES["delta"](**x, impl="recurrent", cu_seqlens=cu)
