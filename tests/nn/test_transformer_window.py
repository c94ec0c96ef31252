"""``RotaryAttention(window=N)``: the carried key/value cache keeps the last N positions."""

from __future__ import annotations

import pytest
import torch

from fastweights.nn import RotaryAttention


def test_a_windowed_cache_equals_attending_over_the_kept_text_afresh() -> None:
    torch.manual_seed(0)
    layer = RotaryAttention(16, 2, window=5).double()
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    first, second = x[:, :8], x[:, 8:]
    _, cache = layer(first)
    assert cache[0].shape[2] == cache[1].shape[2] == 5
    y, cache = layer(second, cache)
    assert cache[0].shape[2] == 5
    # the same as a fresh call over the 5 kept positions followed by the new ones
    fresh, _ = layer(x[:, 3:])
    torch.testing.assert_close(y, fresh[:, 5:])


def test_no_window_keeps_everything_and_bad_windows_raise() -> None:
    layer = RotaryAttention(16, 2)
    _, cache = layer(torch.randn(1, 7, 16))
    assert cache[0].shape[2] == 7
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="window"):
            RotaryAttention(16, 2, window=bad)
