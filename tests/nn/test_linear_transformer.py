"""``LinearTransformer`` is Katharopoulos et al.'s normalised linear attention in every form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fastweights.nn import LinearTransformer

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _layer(**options) -> LinearTransformer:
    torch.manual_seed(0)
    return LinearTransformer(16, 4, **options).double()


def _x(T: int = 11) -> torch.Tensor:
    return torch.randn(2, T, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def _attention(layer: LinearTransformer, x: torch.Tensor) -> torch.Tensor:
    """The paper's eq. (6) as causal attention:
    ``o_i = Σ_{j≤i} φ(q_i)·φ(k_j) v_j / Σ_{j≤i} φ(q_i)·φ(k_j)``."""
    p = layer.project
    B, T, _ = x.shape
    q, k, v = (proj(x).view(B, T, 4, 4).transpose(1, 2) for proj in (p.q_proj, p.k_proj, p.v_proj))
    scores = ((F.elu(q) + 1) @ (F.elu(k) + 1).mT).tril()  # [B, H, T, T]
    o = (scores @ v) / (scores.sum(-1, keepdim=True) + 1e-6)
    return layer.out.o_proj(o.transpose(1, 2).flatten(2))


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_every_form_is_normalised_causal_linear_attention(impl) -> None:
    layer, x = _layer(impl=impl, chunk_size=4), _x()
    y, _ = layer(x)
    torch.testing.assert_close(y, _attention(layer, x), **TOL)


def test_the_state_carries_the_normaliser() -> None:
    """``S' = [S, z]``: the last value column of the state is the running sum of φ(k)."""
    layer, x = _layer(), _x()
    _, state = layer(x)
    k = F.elu(layer.project.k_proj(x).view(2, 11, 4, 4)) + 1  # [B, T, H, K]
    torch.testing.assert_close(state[..., -1], k.sum(1), **TOL)
    assert state.shape == (2, 4, 4, 5)


def test_each_output_is_a_weighted_average_of_the_values() -> None:
    """With one head and the identity read-out, outputs lie in the values' convex hull."""
    torch.manual_seed(0)
    layer = LinearTransformer(4, 1, eps=0.0).double()
    with torch.no_grad():
        layer.out.o_proj.weight.copy_(torch.eye(4))
    x = torch.randn(1, 9, 4, dtype=torch.float64)
    y, _ = layer(x)
    v = layer.project.v_proj(x)
    running_max, running_min = v.cummax(1).values, v.cummin(1).values
    assert bool((y <= running_max + 1e-12).all()) and bool((y >= running_min - 1e-12).all())


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="eps must be a non-negative number"):
        LinearTransformer(16, 4, eps=-1.0)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        LinearTransformer(15, 4)
    with pytest.raises(ValueError, match="no 'nonesuch' form"):
        LinearTransformer(16, 4, impl="nonesuch")
