"""``ShortConvolution`` and ``FastWeightLayer(short_conv=n)``: causal, carried caches equal one
call, exact parameter count, the hook still sees what the rule sees, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fastweights.nn import FastWeightLayer, FastWeightState, RuleInputs, ShortConvolution
from fastweights.ops import RULES

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _x(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _conv(channels: int = 6, kernel_size: int = 4) -> ShortConvolution:
    torch.manual_seed(0)
    return ShortConvolution(channels, kernel_size).double()


def _layer(rule: str = "delta", short_conv: int = 4, seed: int = 0) -> FastWeightLayer:
    torch.manual_seed(seed)
    return FastWeightLayer(16, 4, rule=rule, short_conv=short_conv).double()


def test_known_answer_against_a_loop() -> None:
    conv, x = _conv(kernel_size=3), _x(2, 7, 6)
    y, cache = conv(x)
    w = conv.weight[:, 0]  # [C, 3]
    padded = F.pad(x, (0, 0, 2, 0))  # two zero steps before the start: [B, T + 2, C]
    expected = torch.stack([(padded[:, t : t + 3] * w.T).sum(1) for t in range(7)], dim=1)
    torch.testing.assert_close(y, F.silu(expected), **TOL)
    torch.testing.assert_close(cache, x[:, -2:].transpose(1, 2), **TOL)  # the last 2 inputs


def test_causal() -> None:
    conv, x = _conv(), _x(2, 9, 6)
    y, _ = conv(x)
    changed = x.clone()
    changed[:, 5:] += 1.0
    y2, _ = conv(changed)
    torch.testing.assert_close(y2[:, :5], y[:, :5], rtol=0, atol=0)
    assert not torch.allclose(y2[:, 5], y[:, 5])


@pytest.mark.parametrize("splits", [[1] * 11, [2, 9], [3, 1, 7], [10, 1]])
def test_carrying_the_cache_equals_one_call(splits) -> None:
    conv, x = _conv(), _x(3, 11, 6)
    y, final = conv(x)
    cache, ys, start = None, [], 0
    for size in splits:  # chunks shorter than kernel_size − 1 included
        y_part, cache = conv(x[:, start : start + size], cache)
        ys.append(y_part)
        start += size
    torch.testing.assert_close(torch.cat(ys, dim=1), y, **TOL)
    torch.testing.assert_close(cache, final, **TOL)


def test_gradients_reach_the_kernel_the_input_and_the_cache() -> None:
    conv = _conv()
    x = _x(2, 5, 6).requires_grad_()
    cache = _x(2, 6, 3, seed=2).requires_grad_()
    y, _ = conv(x, cache)
    y.square().sum().backward()
    for tensor in (conv.weight, x, cache):
        assert tensor.grad is not None and bool(tensor.grad.abs().sum() > 0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((6, 1), "kernel_size must be an int >= 2"),
        ((6, 0), "kernel_size must be an int >= 2"),
        ((6, 2.0), "kernel_size must be an int >= 2"),
        ((6, True), "kernel_size must be an int >= 2"),
        ((0, 4), "channels must be an int >= 1"),
    ],
)
def test_bad_sizes(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        ShortConvolution(*args)


def test_bad_inputs_and_caches() -> None:
    conv = _conv()
    with pytest.raises(ValueError, match=r"expected x \[B, T, 6\], got \[2, 5, 5\]"):
        conv(_x(2, 5, 5))
    with pytest.raises(ValueError, match=r"shape \[2, 6, 3\], got \[2, 6, 4\]"):
        conv(_x(2, 5, 6), _x(2, 6, 4))
    with pytest.raises(ValueError, match=r"shape \[2, 6, 3\], got \[1, 6, 3\]"):
        conv(_x(2, 5, 6), _x(1, 6, 3))


# --- FastWeightLayer(short_conv=n) ---


def test_default_is_unchanged() -> None:
    plain, explicit = _layer(short_conv=0), FastWeightLayer(16, 4).double()
    assert plain.project.conv is None and plain.short_conv == 0
    sizes = [p.numel() for p in plain.parameters()]
    assert sizes == [p.numel() for p in explicit.parameters()]
    assert sum(sizes) == 16 * 48 + (16 * 4 + 4) + 16 * 16  # W_qkv, w_β and its bias, W_o
    _, state = plain(_x(2, 5, 16))
    assert isinstance(state, torch.Tensor) and state.shape == (2, 4, 4, 4)
    assert plain.project(_x(2, 5, 16)).conv is None


@pytest.mark.parametrize("kernel", [2, 4])
def test_parameter_count_grows_by_one_kernel_per_channel(kernel) -> None:
    H, D = 4, 4
    plain = sum(p.numel() for p in _layer(short_conv=0).parameters())
    conv = sum(p.numel() for p in _layer(short_conv=kernel).parameters())
    assert conv - plain == 3 * H * D * kernel  # no bias


@pytest.mark.parametrize("rule", ["sum", "delta", "gated_delta"])
def test_layer_token_by_token_and_segments_equal_one_call(rule) -> None:
    layer, x = _layer(rule), _x(2, 13, 16)
    y, final = layer(x)
    assert isinstance(final, FastWeightState)
    assert final.fast.shape == (2, 4, 4, 4) and final.conv.shape == (2, 48, 3)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = layer(x[:, t : t + 1], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.cat(ys, dim=1), y, **TOL)
    y1, state = layer(x[:, :2])  # shorter than the kernel: the cache still holds zeros
    y2, state = layer(x[:, 2:], state)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, **TOL)
    for carried, whole in zip(state, final, strict=True):
        torch.testing.assert_close(carried, whole, **TOL)


def test_layer_is_causal_and_the_conv_gets_gradients() -> None:
    layer, x = _layer(), _x(1, 8, 16)
    y, _ = layer(x)
    changed = x.clone()
    changed[:, 6:] = 0.0
    torch.testing.assert_close(layer(changed)[0][:, :6], y[:, :6], rtol=0, atol=0)
    y.square().sum().backward()
    assert bool(layer.project.conv.weight.grad.abs().sum() > 0)


def test_the_hook_sees_what_the_rule_sees_with_short_conv() -> None:
    layer = _layer("gated_delta")
    seen: list[RuleInputs] = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    x = _x(2, 7, 16)
    _, first = layer(x[:, :3])
    y, state = layer(x[:, 3:], first)
    inputs = seen[1]
    o, fast = RULES["gated_delta"](
        inputs.q, inputs.k, inputs.v, inputs.beta, impl="recurrent", scale=1.0,
        initial_state=first.fast, **inputs.gates,
    )  # fmt: skip
    torch.testing.assert_close(y, layer.out(o.flatten(2)), **TOL)
    torch.testing.assert_close(state.fast, fast, **TOL)
    torch.testing.assert_close(state.conv, inputs.conv, **TOL)


def test_bad_short_conv_and_states() -> None:
    for bad in (1, -1, 2.5, True):
        with pytest.raises(ValueError, match="short_conv must be 0 \\(none\\) or a kernel size"):
            FastWeightLayer(16, 4, short_conv=bad)
    conv_layer, plain = _layer(), _layer(short_conv=0)
    x = _x(2, 3, 16)
    _, conv_state = conv_layer(x)
    _, plain_state = plain(x)
    with pytest.raises(TypeError, match="takes a FastWeightState"):
        conv_layer(x, plain_state)
    with pytest.raises(TypeError, match="without short convolution takes the fast weights"):
        plain(x, conv_state)
    with pytest.raises(ValueError, match=r"conv cache of shape \[2, 48, 3\]"):
        conv_layer(x, FastWeightState(conv_state.fast, conv_state.conv[..., :2]))
    with pytest.raises(ValueError, match="no short convolution"):
        plain.project(x, conv_state.conv)
