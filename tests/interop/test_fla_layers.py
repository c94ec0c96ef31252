"""The published delta layers equal fla's: its equations (transcribed), its parameter counts and
names, and ``from_fla`` carries an fla layer's weights over."""

from __future__ import annotations

import pytest
import torch
from fla_transcription import deltanet, gated_deltanet

from fastweights.interop.fla import from_fla, load_fla_weights
from fastweights.nn import MIXERS, DeltaNet, GatedDeltaNet

TOL = {"rtol": 1e-10, "atol": 1e-10}
DELTANET_OPTIONS = [
    {},
    {"use_gate": True},
    {"use_short_conv": False},
    {"qk_activation": "relu", "qk_norm": "sum"},
    {"qk_activation": "elu"},
    {"qk_activation": "identity", "use_beta": False, "allow_neg_eigval": True},
    {"expand_k": 0.5, "expand_v": 2.0, "conv_bias": True, "conv_size": 3},
]
GATED_OPTIONS = [
    {},
    {"use_gate": False},
    {"num_v_heads": 8},
    {"head_dim": 12, "expand_v": 1.5, "use_short_conv": False},
    {"output_gate_activation": "sigmoid", "allow_neg_eigval": True},
]


def _x(T: int = 13) -> torch.Tensor:
    return torch.randn(2, T, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def _fla_weights(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our layer's weights under fla's names: ``project.n`` and ``out.n`` are fla's ``n``."""
    return {name.split(".", 1)[1]: w for name, w in layer.state_dict().items()}


def _build(cls, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    layer = cls(32, 4, **options).double()
    with torch.no_grad():  # norms and biases away from their ones/zeros start
        for name, p in layer.named_parameters():
            if "norm" in name or "bias" in name:
                p.add_(0.3 * torch.randn_like(p))
    return layer


@pytest.mark.parametrize("impl", ["chunk", "recurrent"])
@pytest.mark.parametrize("options", DELTANET_OPTIONS, ids=str)
def test_deltanet_equals_the_transcription_of_fla(options, impl) -> None:
    layer, x = _build(DeltaNet, impl=impl, chunk_size=4, **options), _x()
    y, state = layer(x)
    expected, S = deltanet(_fla_weights(layer), x, {"num_heads": 4, "norm_eps": 1e-5} | options)
    torch.testing.assert_close(y, expected, **TOL)
    fast = state.fast if layer.carries_conv else state
    torch.testing.assert_close(fast, S, **TOL)


@pytest.mark.parametrize("impl", ["chunk", "recurrent"])
@pytest.mark.parametrize("options", GATED_OPTIONS, ids=str)
def test_gated_deltanet_equals_the_transcription_of_fla(options, impl) -> None:
    layer, x = _build(GatedDeltaNet, impl=impl, chunk_size=4, **options), _x()
    y, state = layer(x)
    cfg = {"num_heads": 4, "head_dim": 8, "norm_eps": 1e-5, "use_gate": True} | options
    expected, S = gated_deltanet(_fla_weights(layer), x, cfg)
    torch.testing.assert_close(y, expected, **TOL)
    torch.testing.assert_close(state.fast if layer.carries_conv else state, S, **TOL)


def test_strong_published_decays_stay_finite_in_the_chunk_form() -> None:
    """fla's A_log reaches log 16: g ≈ −77 per token here, the chunk form's exponents stay finite
    and it equals the recurrent form in float32."""
    torch.manual_seed(0)
    layer = GatedDeltaNet(32, 4)
    with torch.no_grad():
        layer.project.A_log.fill_(torch.log(torch.tensor(16.0)))
        layer.project.dt_bias.fill_(2.0)
    x = _x(T=150).float()
    y, state = layer(x)
    layer.impl = "recurrent"
    y_ref, state_ref = layer(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state.fast, state_ref.fast, rtol=1e-4, atol=1e-5)


def test_gated_deltanet_initialises_a_log_and_dt_bias_as_fla() -> None:
    torch.manual_seed(0)
    project = GatedDeltaNet(64, 64, head_dim=4).project  # 64 heads: 64 draws of each
    A = project.A_log.exp()
    dt = torch.nn.functional.softplus(project.dt_bias)  # softplus(dt_bias) = dt at the start
    assert bool(((A > 0) & (A < 16)).all()) and bool(((dt >= 1e-3 - 1e-7) & (dt <= 0.1)).all())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"qk_activation": "gelu"}, "qk_activation must be one of"),
        ({"qk_norm": "max"}, "qk_norm must be one of"),
        ({"expand_k": 0.3}, "must be an integer divisible by 4"),
        ({"expand_v": -1.0}, "expand_v must be a positive number"),
        ({"norm_eps": 0.0}, "norm_eps must be a positive number"),
        ({"conv_size": 1}, "kernel_size must be an int >= 2"),
    ],
)
def test_deltanet_refuses_bad_options(options, match) -> None:
    with pytest.raises(ValueError, match=match):
        DeltaNet(32, 4, **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"num_v_heads": 6}, "num_v_heads must be a multiple of num_heads"),
        ({"head_dim": 0}, "head_dim must be a positive integer"),
        ({"expand_v": 0.1}, "must be an integer"),
        ({"output_gate_activation": "tanh"}, "activation must be one of"),
    ],
)
def test_gated_deltanet_refuses_bad_options(options, match) -> None:
    with pytest.raises(ValueError, match=match):
        GatedDeltaNet(32, 4, **options)


def test_load_fla_weights_names_what_does_not_fit() -> None:
    layer = DeltaNet(32, 4)
    weights = _fla_weights(layer)
    with pytest.raises(ValueError, match=r"no place for \['extra.weight'\]"):
        load_fla_weights(layer, weights | {"extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="nothing for"):
        load_fla_weights(layer, {n: w for n, w in weights.items() if n != "b_proj.weight"})
    with pytest.raises(ValueError, match="has shape"):
        load_fla_weights(layer, weights | {"b_proj.weight": torch.zeros(3, 32)})


def test_from_fla_refuses_other_layers() -> None:
    with pytest.raises(TypeError, match="takes an fla DeltaNet or GatedDeltaNet layer"):
        from_fla(torch.nn.Linear(2, 2))


# --- with fla installed: its own layers ---


def _fla():
    return pytest.importorskip("fla.layers", reason="fla (flash-linear-attention) not installed")


def test_parameter_counts_and_names_equal_fla() -> None:
    layers = _fla()

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    pairs = [
        (MIXERS["deltanet"](256, 4), layers.DeltaNet(hidden_size=256, num_heads=4)),
        (MIXERS["deltanet"](256, 4, use_gate=True, expand_v=2.0),
         layers.DeltaNet(hidden_size=256, num_heads=4, use_gate=True, expand_v=2.0)),
        (MIXERS["gated_deltanet"](256, 4),
         layers.GatedDeltaNet(hidden_size=256, num_heads=4, head_dim=64)),
        (MIXERS["gated_deltanet"](256, 2, head_dim=96, num_v_heads=4, use_gate=False),
         layers.GatedDeltaNet(hidden_size=256, num_heads=2, head_dim=96, num_v_heads=4,
                              use_gate=False)),
    ]  # fmt: skip
    for ours, theirs in pairs:
        assert count(ours) == count(theirs)
        assert sorted(_fla_weights(ours)) == sorted(theirs.state_dict())


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("DeltaNet", {}),
        ("DeltaNet", {"use_gate": True, "qk_activation": "relu", "qk_norm": "sum"}),
        ("DeltaNet", {"use_short_conv": False, "allow_neg_eigval": True, "conv_bias": True}),
        ("GatedDeltaNet", {"head_dim": 8}),
        ("GatedDeltaNet", {"head_dim": 8, "num_v_heads": 8, "use_gate": False}),
    ],
)
def test_from_fla_carries_the_weights_and_computes_fla_s_equations(kind, options) -> None:
    layers = _fla()
    torch.manual_seed(0)
    theirs = getattr(layers, kind)(hidden_size=32, num_heads=4, **options)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = from_fla(theirs).double()
    weights = {n: w.double() for n, w in theirs.state_dict().items()}
    torch.testing.assert_close(_fla_weights(ours), weights, rtol=0, atol=0)
    x = _x()
    eps = theirs.o_norm.eps
    cfg = {"num_heads": 4, "norm_eps": eps} | options
    transcription = deltanet if kind == "DeltaNet" else gated_deltanet
    expected, _ = transcription(weights, x, cfg | {"use_gate": theirs.use_gate})
    torch.testing.assert_close(ours(x)[0], expected, **TOL)
