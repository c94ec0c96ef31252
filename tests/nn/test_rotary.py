"""RoPE (``fastweights.nn.rotary``) and the ``transformer`` mixer (``RotaryAttention``)."""

from __future__ import annotations

import math

import pytest
import torch

from fastweights.nn import MIXERS
from fastweights.nn.rotary import apply_rotary
from fastweights.nn.transformer import RotaryAttention

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def _transcribed(x: torch.Tensor, offset: int, theta: float) -> torch.Tensor:
    """The module docstring's equation, one scalar at a time, for ``x [T, D]``."""
    T, D = x.shape
    y = torch.empty_like(x)
    for t in range(T):
        p = offset + t
        for i in range(D // 2):
            angle = p * theta ** (-2 * i / D)
            c, s = math.cos(angle), math.sin(angle)
            y[t, i] = x[t, i] * c - x[t, i + D // 2] * s
            y[t, i + D // 2] = x[t, i + D // 2] * c + x[t, i] * s
    return y


@pytest.mark.parametrize(("offset", "theta"), [(0, 10000.0), (7, 10000.0), (3, 500.0)])
def test_rotation_is_the_transcribed_equation(offset: int, theta: float) -> None:
    x = _randn(5, 8)
    torch.testing.assert_close(
        apply_rotary(x, offset, theta), _transcribed(x, offset, theta), **TOL
    )


def test_rotation_keeps_norms_and_position_zero_is_the_identity() -> None:
    x = _randn(2, 3, 9, 6)
    y = apply_rotary(x, offset=11)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), **TOL)
    assert torch.equal(apply_rotary(x[:, :, :1]), x[:, :, :1])  # position 0: cos 1, sin 0
    assert not torch.allclose(y, x)


def test_scores_depend_only_on_the_relative_offset() -> None:
    q, k = _randn(1, 4, 1, 8, seed=1), _randn(1, 4, 1, 8, seed=2)

    def score(p: int, s: int) -> torch.Tensor:
        return (apply_rotary(q, p) * apply_rotary(k, s)).sum(-1)  # [1, 4, 1]

    for p, s in [(5, 2), (2, 5), (9, 9)]:
        for shift in (1, 13, 1000):
            torch.testing.assert_close(score(p + shift, s + shift), score(p, s), **TOL)
    assert not torch.allclose(score(5, 2), score(5, 3))


def test_an_offset_continues_the_positions_and_dtypes_are_kept() -> None:
    x = _randn(2, 12, 4)
    torch.testing.assert_close(apply_rotary(x[:, 5:], offset=5), apply_rotary(x)[:, 5:], **TOL)
    for dtype, atol in ((torch.float32, 1e-6), (torch.bfloat16, 1e-2)):
        y = apply_rotary(x.to(dtype), 3)  # rotated in float32, rounded once at the end
        assert y.dtype == dtype
        exact = apply_rotary(x.to(dtype).double(), 3)
        torch.testing.assert_close(y.double(), exact, rtol=0, atol=atol)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((_randn(2, 3, 5),), ValueError, "must be even"),
        ((_randn(4),), ValueError, "at least 2-D"),
        ((torch.ones(3, 4, dtype=torch.long),), TypeError, "floating-point"),
        (([[1.0, 2.0]],), TypeError, "torch.Tensor"),
        ((_randn(3, 4), -1), ValueError, "offset must be an int >= 0"),
        ((_randn(3, 4), True), ValueError, "offset must be an int >= 0"),
        ((_randn(3, 4), 0, 0.0), ValueError, "rope_theta must be a finite number > 0"),
        ((_randn(3, 4), 0, float("nan")), ValueError, "rope_theta must be a finite number"),
        ((_randn(3, 4), 0, "1e4"), TypeError, "rope_theta must be a number"),
    ],
)
def test_bad_rotary_input_is_a_clear_error(args: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        apply_rotary(*args)


def _layer(name: str = "transformer", d_model: int = 16, n_heads: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return MIXERS[name](d_model, n_heads).double()


def test_the_layer_is_rope_then_causal_softmax_attention() -> None:
    layer, x = _layer(), _randn(2, 7, 16)
    y, (k_cache, v_cache) = layer(x)

    def heads(linear: torch.nn.Linear) -> torch.Tensor:
        return linear(x).view(2, 7, 4, 4).transpose(1, 2)  # [B, H, T, D]

    q, k, v = (
        apply_rotary(heads(layer.q_proj)),
        apply_rotary(heads(layer.k_proj)),
        heads(layer.v_proj),
    )
    scores = q @ k.mT / 2.0  # √D = 2
    scores = scores.masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf"))
    o = scores.softmax(-1) @ v  # [B, H, T, D]
    torch.testing.assert_close(y, layer.o_proj(o.transpose(1, 2).flatten(2)), **TOL)
    torch.testing.assert_close(k_cache, k, **TOL)  # the cache holds the rotated keys
    torch.testing.assert_close(v_cache, v, **TOL)


def test_streaming_with_the_cache_equals_one_call() -> None:
    layer, x = _layer(), _randn(2, 17, 16)
    y, (k_all, _) = layer(x)
    state, ys = None, []
    for start, stop in [(0, 1), (1, 4), (4, 5), (5, 12), (12, 17)]:
        y_part, state = layer(x[:, start:stop], state)
        ys.append(y_part)
    torch.testing.assert_close(torch.cat(ys, 1), y, **TOL)
    torch.testing.assert_close(state[0], k_all, **TOL)
    assert state[0].shape == (2, 4, 17, 4)


def test_the_transformer_sees_token_order_and_softmax_does_not() -> None:
    x = _randn(1, 9, 16, seed=3)
    shuffled = x.clone()
    shuffled[:, :8] = x[:, torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])]  # earlier tokens, last kept
    for name, sees_order in (("softmax", False), ("transformer", True)):
        layer = _layer(name)
        last, last_shuffled = layer(x)[0][:, -1], layer(shuffled)[0][:, -1]
        if sees_order:
            assert (last - last_shuffled).abs().max() > 1e-3, name
        else:
            torch.testing.assert_close(last_shuffled, last, **TOL)


def test_rope_theta_is_an_option() -> None:
    torch.manual_seed(0)
    other = RotaryAttention(16, 4, rope_theta=500.0).double()
    layer, x = _layer(), _randn(1, 6, 16)
    assert other.rope_theta == 500.0 and layer.rope_theta == 10000.0
    assert not torch.allclose(other(x)[0], layer(x)[0])


@pytest.mark.parametrize(
    ("args", "options", "match"),
    [
        ((12, 4), {}, "head size d_model / n_heads must be even, got 12 / 4 = 3"),
        ((16, 3), {}, "divisible by n_heads"),
        ((16, 4), {"rope_theta": -1.0}, "rope_theta must be a finite number > 0"),
    ],
)
def test_bad_layer_options_are_clear_errors(args: tuple, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RotaryAttention(*args, **options)


def test_bad_layer_input_and_state_are_clear_errors() -> None:
    layer, x = _layer(), _randn(2, 5, 16)
    _, state = layer(x)
    with pytest.raises(ValueError, match=r"x must be \[B, T, d_model=16\], got \(2, 5, 8\)"):
        layer(x[..., :8])
    with pytest.raises(ValueError, match=r"state must be \(k, v\) of shape \[B=1, H=4"):
        layer(x[:1], state)
    with pytest.raises(TypeError, match="key/value cache"):
        layer(x, state[0])


@pytest.mark.slow  # importing fla takes about 15 s on 2 CPU cores
def test_parameters_are_fla_attentions_by_name_and_count(monkeypatch) -> None:
    pytest.importorskip("fla", reason="flash-linear-attention (fla) is not installed")
    import fla.layers.attn as fla_attn

    # fla's Attention refuses to build without flash-attn, which it only needs in forward: a
    # stand-in lets the real constructor run, so its parameters can be compared
    monkeypatch.setattr(fla_attn, "flash_attn_func", lambda *args, **kwargs: None)
    theirs = fla_attn.Attention(hidden_size=256, num_heads=4)
    ours = RotaryAttention(256, 4)
    shapes = {name: p.shape for name, p in ours.named_parameters()}
    assert shapes == {name: p.shape for name, p in theirs.named_parameters()}
    assert sum(p.numel() for p in ours.parameters()) == 4 * 256 * 256
    ours.load_state_dict(theirs.state_dict())  # strict: the same names, nothing left over
    assert (theirs.rotary.dim, theirs.rotary.base) == (ours.d_head, ours.rope_theta)


@pytest.mark.slow  # importing fla takes about 15 s on 2 CPU cores
def test_rotation_is_flas_rotate_half_convention() -> None:
    pytest.importorskip("fla", reason="flash-linear-attention (fla) is not installed")
    from fla.modules.rotary.ops import RotaryEmbedding, rotary_embedding_ref

    x = _randn(2, 10, 4, 8).float()  # fla's layout [B, T, H, D]
    angles = torch.outer(torch.arange(10.0), RotaryEmbedding(8).inv_freq)  # [T, D/2]
    theirs = rotary_embedding_ref(x, angles.cos(), angles.sin())
    ours = apply_rotary(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
