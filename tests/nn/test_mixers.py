"""Every mixer in MIXERS: token by token == one call, segments == one call, clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from fastweights.nn import MIXERS, FastWeightLayer, RuleInputs, RuleLayer
from fastweights.ops import RULES, RuleSpec

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _mixer(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MIXERS[name](16, 4).double()


def _x(B: int = 2, T: int = 19, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, T, 16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", list(MIXERS))
def test_token_by_token_equals_one_call(name) -> None:
    mixer, x = _mixer(name), _x()
    y, _ = mixer(x)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = mixer(x[:, t : t + 1], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.cat(ys, dim=1), y, **TOL)


@pytest.mark.parametrize("name", list(MIXERS))
def test_segments_carrying_state_equal_one_call(name) -> None:
    mixer, x = _mixer(name), _x(T=23)
    y, _ = mixer(x)
    y1, state = mixer(x[:, :10])
    y2, _ = mixer(x[:, 10:], state)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, **TOL)


@pytest.mark.parametrize("name", list(MIXERS))
def test_gradients_reach_every_parameter(name) -> None:
    mixer = _mixer(name)
    y, _ = mixer(_x(T=9))
    y.square().sum().backward()
    missing = [n for n, p in mixer.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient for {missing}"


def test_the_projection_is_what_the_rule_sees() -> None:
    layer = FastWeightLayer(16, 4, rule="gated_delta").double()
    seen: list[RuleInputs] = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    x = _x(T=7)
    y, state = layer(x)
    (inputs,) = seen
    o, expected_state = RULES["gated_delta"](
        inputs.q, inputs.k, inputs.v, inputs.beta, impl="recurrent", scale=1.0, **inputs.gates
    )
    torch.testing.assert_close(y, layer.out(o.flatten(2)), **TOL)
    torch.testing.assert_close(state, expected_state, **TOL)
    assert bool((inputs.gates["g"] <= 0).all()) and bool(
        ((inputs.beta > 0) & (inputs.beta < 1)).all()
    )


@pytest.mark.parametrize("name", list(RULES))
def test_every_rule_is_a_mixer_with_the_rules_own_layer_defaults(name) -> None:
    layer, spec = MIXERS[name](16, 4), RULES[name].layer
    assert isinstance(layer, FastWeightLayer) and layer.rule is RULES[name]
    assert (layer.project.feature_map, layer.project.norm) == (spec.feature_map, spec.norm)
    assert (layer.project.beta is not None) == spec.learn_beta
    assert layer.impl == ("chunk" if "chunk" in RULES[name].forms else "recurrent")


def test_a_new_rule_needs_only_its_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = RuleSpec(feature_map="elu+1", norm=None, learn_beta=False)
    monkeypatch.setitem(RULES, "toy", replace(RULES["delta"], name="toy", layer=spec))
    layer = FastWeightLayer(16, 4, rule="toy")
    assert (layer.project.feature_map, layer.project.norm, layer.project.beta) == (
        "elu+1",
        None,
        None,
    )
    assert FastWeightLayer(16, 4, rule="toy", norm="l2", learn_beta=True).project.beta is not None
    with pytest.raises(ValueError, match=r"RuleSpec\.feature_map: unknown 'nope'"):
        RuleSpec(feature_map="nope")


def test_linear_transformer_preset_uses_unit_rates_and_normalised_features() -> None:
    layer = FastWeightLayer(16, 4, rule="sum").double()
    inputs = layer.project(_x(T=5))
    torch.testing.assert_close(inputs.beta, torch.ones_like(inputs.beta))
    torch.testing.assert_close(inputs.k.sum(-1), torch.ones_like(inputs.k[..., 0]), **TOL)
    assert bool((inputs.k > 0).all())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"d_model": 16, "n_heads": 3}, ValueError, "divisible by n_heads"),
        ({"d_model": 0, "n_heads": 1}, ValueError, "d_model must be a positive integer"),
        ({"d_model": 16, "n_heads": 4, "rule": "nonesuch"}, ValueError, "unknown rule 'nonesuch'"),
        ({"d_model": 16, "n_heads": 4, "rule": "oja", "impl": "chunk"}, ValueError, "no 'chunk'"),
        (
            {"d_model": 16, "n_heads": 4, "impl": "triton"},
            ValueError,
            "'delta' has no 'triton' form; available: recurrent, chunk, triton_chunk, "
            "triton_recurrent",
        ),
        ({"d_model": 16, "n_heads": 4, "chunk_size": 0}, ValueError, "chunk_size must be > 0"),
        ({"d_model": 16, "n_heads": 4, "feature_map": "nope"}, ValueError, "unknown feature map"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        FastWeightLayer(**kwargs)


@pytest.mark.parametrize("name", [n for n in MIXERS if isinstance(MIXERS[n](16, 4), RuleLayer)])
def test_a_rule_layer_s_state_does_not_grow_with_the_context(name) -> None:
    """O(1) memory per token: the fast weights (and a conv cache) are the same size after 5 and
    after 40 tokens, for the minimal and the published rule layers alike."""
    mixer = _mixer(name)

    def sizes(T: int) -> list[tuple[int, ...]]:
        _, state = mixer(_x(T=T))
        parts = state if isinstance(state, tuple) else (state,)
        return [tuple(part.shape) for part in parts]

    assert sizes(5) == sizes(40)
