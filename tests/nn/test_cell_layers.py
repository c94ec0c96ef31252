"""CellLayer around the recurrent FWP cells: streaming, gradients, and what the cell sees."""

from __future__ import annotations

import pytest
import torch

from fastweights.nn import MIXERS, CellLayer
from fastweights.ops import CELLS
from fastweights.ops.cells.delta_mlp import LAYER_BLOCKS, LAYER_INNER

TOL = {"rtol": 1e-10, "atol": 1e-10}
D_MODEL, HEADS = 24, 3
D = D_MODEL // HEADS

# per cell: the fields mapped to the simplex (elu+1 then sum-normalised, or softmax), the rates
# (sigmoids), and the options that make the cell's own example() have the layer's shapes
CASES = {
    "delta_rnn": (("q", "k", "k_rec"), ("beta", "beta_rec"), {"heads": HEADS, "d": D}),
    "delta_lstm": (("q", "k", "k_rec"), ("beta", "beta_rec"), {"heads": HEADS, "d": D}),
    "rdn": ((), (), {"heads": HEADS, "d": D}),  # pre-activation: the maps act inside the step
    "delta_mlp": (
        ("k_in", "k_out"),
        ("beta_in", "beta_out"),
        {"heads": HEADS, "d": D, "blocks": LAYER_BLOCKS, "inner": LAYER_INNER * D},
    ),
    "delta_delta": (("q", "k"), ("beta",), {"heads": HEADS, "d": D}),
}
NAMES = list(CASES)


def _layer(name: str, seed: int = 0) -> CellLayer:
    torch.manual_seed(seed)
    return CellLayer(D_MODEL, HEADS, cell=name).double()


def _x(B: int = 2, T: int = 11, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, D_MODEL, generator=gen, dtype=torch.float64)


def _assert_trees_close(a, b) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, **TOL)
        return
    assert type(a) is type(b)
    for field_a, field_b in zip(a, b, strict=True):
        _assert_trees_close(field_a, field_b)


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_mixers(name) -> None:
    assert name in MIXERS
    y, _ = MIXERS[name](16, 4)(torch.randn(2, 3, 16))
    assert y.shape == (2, 3, 16) and y.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_token_by_token_equals_one_call(name) -> None:
    layer, x = _layer(name), _x()
    y, state = layer(x)
    carried, ys = None, []
    for t in range(x.shape[1]):
        y_t, carried = layer(x[:, t : t + 1], carried)
        ys.append(y_t)
    torch.testing.assert_close(torch.cat(ys, dim=1), y, **TOL)
    _assert_trees_close(carried, state)


@pytest.mark.parametrize("name", NAMES)
def test_segments_carrying_state_equal_one_call(name) -> None:
    layer, x = _layer(name), _x(T=13)
    y, state = layer(x)
    y1, carried = layer(x[:, :5])
    y2, carried = layer(x[:, 5:], carried)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, **TOL)
    _assert_trees_close(carried, state)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name) -> None:
    layer = _layer(name)
    y, _ = layer(_x(T=6))
    y.square().sum().backward()
    missing = [n for n, p in layer.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_the_projection_is_what_the_cell_sees(name) -> None:
    simplex, rates, example_options = CASES[name]
    layer = _layer(name)
    seen = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    x = _x(T=7)
    y, state = layer(x)
    (inputs,) = seen
    # the cell on the hooked inputs, from a zero state, with the layer's slow parameters
    cell = CELLS[name]
    B = x.shape[0]
    zeros = type(state)(*(torch.zeros_like(s) for s in state))
    params = layer._rebuild_params(list(layer.params.parameters()))
    o, expected_state = cell(inputs, zeros, params, impl="recurrent")
    torch.testing.assert_close(y, layer.out(o.flatten(2)), **TOL)
    _assert_trees_close(state, expected_state)
    # the inputs have the shapes of the cell's own example, and the paper's activations
    example, example_state, _ = cell.example(B, x.shape[1], torch.Generator(), **example_options)
    assert type(inputs) is type(example)
    for field, got, want in zip(inputs._fields, inputs, example, strict=True):
        assert got.shape == want.shape, f"{name}.{field}: {tuple(got.shape)} != {tuple(want.shape)}"
    for field, got, want in zip(state._fields, state, example_state, strict=True):
        assert got.shape == want.shape, f"{name}.{field}: {tuple(got.shape)} != {tuple(want.shape)}"
    for field in simplex:
        value = getattr(inputs, field)
        assert bool((value > 0).all()), field
        torch.testing.assert_close(value.sum(-1), torch.ones_like(value[..., 0]), **TOL)
    for field in rates:
        value = getattr(inputs, field)
        assert bool(((value > 0) & (value < 1)).all()), field


@pytest.mark.parametrize("name", NAMES)
def test_initial_state_is_a_fixed_zero_buffer(name) -> None:
    layer = _layer(name)
    assert not list(layer.initial_state.parameters())
    buffers = list(layer.initial_state.buffers())
    assert buffers and all(not b.abs().sum() for b in buffers)


def test_rdn_recurrent_slow_weights_are_learned_with_the_official_init() -> None:
    layer = CellLayer(64, 2, cell="rdn")
    R_q, R_k, R_v, r_beta = layer._rebuild_params(list(layer.params.parameters()))
    d = 32
    for R in (R_q, R_k, R_v):
        assert R.shape == (2, d, d) and R.requires_grad
        assert abs(R.std().item() * d**0.5 - 1) < 0.1  # N(0, 1/d)
    assert r_beta.shape == (2, d) and r_beta.requires_grad


def test_delta_mlp_layer_norms_start_as_identity_affines() -> None:
    layer = CellLayer(D_MODEL, HEADS, cell="delta_mlp")
    weight, bias = layer._rebuild_params(list(layer.params.parameters()))
    assert weight.shape == bias.shape == (LAYER_BLOCKS, D)
    assert bool((weight == 1).all()) and bool((bias == 0).all()) and weight.requires_grad


def test_srnet1993_layer_learns_its_initial_weights_but_not_its_addresses() -> None:
    from fastweights.nn.cell_layer import CellLayer

    layer = CellLayer(16, 2, cell="srnet1993")
    learned = dict(layer.named_parameters())
    fixed = dict(layer.named_buffers())
    assert "initial_state.0" in learned  # W_0, one 1993 net per head
    assert {"params.0", "params.1", "initial_state.1", "initial_state.2"} <= set(fixed)
    codes = fixed["params.0"]
    assert (
        set(codes.unique().tolist()) == {0.0, 1.0}
        and codes.shape[0] == codes.unique(dim=0).shape[0]
    )


def test_a_layer_takes_a_cells_kernel_form_and_names_it_when_asked_for_a_missing_one() -> None:
    layer = CellLayer(16, 2, cell="srwm", impl="triton_recurrent")  # built, not run
    assert layer.impl == "triton_recurrent"
    with pytest.raises(ValueError, match=r"available: recurrent, fused, triton_recurrent$"):
        CellLayer(16, 2, cell="srwm", impl="chunk")


@pytest.mark.parametrize("name", ["srwm", "rdn"])
def test_layers_start_from_their_own_random_state_and_params_fixed_by_the_global_seed(name) -> None:
    def held(layer: CellLayer) -> list[torch.Tensor]:
        return [t.detach().clone() for t in (*layer.initial_state.parameters(),
                                              *layer.params.parameters())]  # fmt: skip

    torch.manual_seed(0)
    first, second = (
        held(CellLayer(D_MODEL, HEADS, cell=name)),
        held(CellLayer(D_MODEL, HEADS, cell=name)),
    )
    assert first and not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    torch.manual_seed(0)
    again = held(CellLayer(D_MODEL, HEADS, cell=name))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    explicit = [held(CellLayer(D_MODEL, HEADS, cell=name, seed=5)) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*explicit, strict=True))


def test_every_registered_cell_is_a_mixer_from_its_own_layer_spec() -> None:
    assert all(cell.layer is not None for cell in CELLS.values())
    assert all(MIXERS[name].keywords == {"cell": name} for name in CELLS)


def _state_leaves(tree) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    return [leaf for field in tree for leaf in _state_leaves(field)]


@pytest.mark.parametrize("name", list(CELLS))
def test_under_autocast_the_cell_keeps_its_state_in_float32(name) -> None:
    layer = CellLayer(16, 2, cell=name, seed=0)
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = layer(x)
        y_next, state = layer(x[:, :2], state)
    assert y.dtype == y_next.dtype == torch.bfloat16  # the projections run under autocast
    assert all(leaf.dtype == torch.float32 for leaf in _state_leaves(state))
