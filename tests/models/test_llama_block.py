"""The llama block (``ModelConfig(block="llama")``): RMSNorm, SwiGLU MLP and a head without bias as
fla builds its models; streaming equals one call, a short overfit, fla's MLP size rule and
parameter names, the presets of the published mixers, and clear errors. The classic block is
``tests/models/test_model.py``'s."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from fastweights.models import (
    PRESETS,
    FWPModel,
    ModelConfig,
    count_parameters,
    matched_config,
    preset_config,
)
from fastweights.models.model import SwiGLU
from fastweights.nn import MIXERS

TOL = {"rtol": 1e-9, "atol": 1e-9}
PUBLISHED_MIXERS = ("deltanet", "gated_deltanet", "linear_transformer", "transformer")
# mixers of every kind (a rule, softmax attention, an LSTM, a cell) and the published ones
STREAMED = ("delta", "softmax", "lstm", "srwm", *PUBLISHED_MIXERS)


def _needs(mixer: str) -> None:
    if mixer not in MIXERS:  # the published mixers land separately; the test runs once they do
        pytest.skip(f"mixer {mixer!r} is not in MIXERS yet")


def _lm(mixer: str = "delta", seed: int = 0, **fields: object) -> FWPModel:
    torch.manual_seed(seed)
    config = ModelConfig(mixer=mixer, d_model=16, n_layers=2, n_heads=2, vocab_size=11,
                         block="llama", **fields)  # fmt: skip
    return FWPModel(config).double()


def _ids(B: int = 2, T: int = 13, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 11, (B, T), generator=torch.Generator().manual_seed(seed))


def test_the_llama_block_is_rmsnorm_swiglu_and_a_head_without_bias() -> None:
    model = _lm(norm_eps=1e-5).float()
    assert isinstance(model.norm, nn.RMSNorm) and model.norm.eps == 1e-5
    assert model.head.bias is None
    for block in model.blocks:
        assert isinstance(block.norm, nn.RMSNorm) and isinstance(block.mlp_norm, nn.RMSNorm)
        assert isinstance(block.mlp, SwiGLU)
        assert all(linear.bias is None for linear in block.mlp.children())
    h = torch.randn(3, 5, 16)
    mlp = model.blocks[0].mlp
    expected = mlp.down_proj(nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
    torch.testing.assert_close(mlp(h), expected)
    rms = h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5) * model.norm.weight
    torch.testing.assert_close(model.norm(h), rms)


def test_fla_init_of_what_the_block_owns() -> None:
    torch.manual_seed(0)
    config = ModelConfig(d_model=64, n_heads=4, vocab_size=512, block="llama")
    model = FWPModel(config)
    for weight in (model.embed.weight, model.head.weight, model.blocks[0].mlp.gate_proj.weight):
        assert abs(weight.std().item() - 0.02) < 0.002 and abs(weight.mean().item()) < 0.002
    vectors = FWPModel(ModelConfig(d_model=64, n_heads=4, d_input=7, n_out=3, block="llama"))
    assert torch.count_nonzero(vectors.embed.bias) == 0


@pytest.mark.parametrize("mixer", STREAMED)
def test_prefill_then_streaming_decode_equals_full_forward(mixer) -> None:
    _needs(mixer)
    model, ids = _lm(mixer), _ids()
    full, _ = model(ids)
    logits, states = model(ids[:, :6])  # prefill
    steps = [logits]
    for t in range(6, ids.shape[1]):  # decode one token at a time with the carried states
        logits, states = model(ids[:, t : t + 1], states)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)


@pytest.mark.parametrize("mixer", ["delta", *PUBLISHED_MIXERS])
def test_a_short_overfit_lowers_the_loss(mixer) -> None:
    _needs(mixer)
    model = _lm(mixer, seed=1).float()
    ids = _ids(B=2, T=12, seed=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits, _ = model(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], f"{mixer}: {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize(
    ("fields", "hidden"),
    [
        ({"d_model": 64}, 256),  # int(64·4·2/3) = 170 -> 256
        ({"d_model": 1024}, 2816),  # int(2730.7) = 2730 -> 2816
        ({"d_model": 96}, 256),  # exactly 256
        ({"d_model": 100}, 512),  # 266 -> 512
        ({"d_model": 4096}, 11008),  # Llama-7B's size
        ({"d_model": 64, "mlp_ratio": 2}, 256),
        ({"d_model": 64, "mlp_hidden": 100}, 100),
        ({"d_model": 64, "mlp_ratio": 0}, 0),
        ({"d_model": 64, "block": "classic"}, 256),  # mlp_ratio·d
        ({"d_model": 64, "block": "classic", "mlp_hidden": 100}, 100),
    ],
)
def test_mlp_hidden_size(fields, hidden) -> None:
    config = ModelConfig(**{"n_heads": 4, "vocab_size": 5, "block": "llama", **fields})
    assert config.mlp_size == hidden


def test_mlp_hidden_builds_that_width_and_mlp_ratio_0_has_no_mlp() -> None:
    mlp = _lm(mlp_hidden=24).blocks[0].mlp
    assert mlp.gate_proj.weight.shape == mlp.up_proj.weight.shape == (24, 16)
    assert mlp.down_proj.weight.shape == (16, 24)
    plain = _lm(mlp_ratio=0).blocks[0]
    assert plain.mlp is None and not hasattr(plain, "mlp_norm")


def test_parameter_count() -> None:
    V, d, L, hidden = 11, 16, 2, 256
    model, no_mlp = _lm(), _lm(mlp_ratio=0)
    per_block_mlp = 3 * d * hidden + d  # three projections, no biases, and the mlp norm's gain
    assert model.num_parameters() - no_mlp.num_parameters() == L * per_block_mlp
    mixers = sum(p.numel() for block in no_mlp.blocks for p in block.mixer.parameters())
    assert no_mlp.num_parameters() == V * d + mixers + L * d + d + d * V  # no head bias


@pytest.mark.parametrize(("d", "ratio"), [(64, 4), (128, 4), (1024, 4), (96, 2), (100, 3)])
def test_mlp_and_norms_match_fla(d, ratio) -> None:
    fla_modules = pytest.importorskip("fla.modules")  # imports in ~15 s on 2 CPU cores
    block = FWPModel(ModelConfig(d_model=d, n_heads=4, n_layers=1, vocab_size=5, mlp_ratio=ratio,
                                 block="llama")).blocks[0]  # fmt: skip
    theirs = fla_modules.GatedMLP(hidden_size=d, hidden_ratio=ratio)
    mine = {k: v.shape for k, v in block.mlp.state_dict().items()}
    assert mine == {k: v.shape for k, v in theirs.state_dict().items()}  # gate/up/down_proj
    norm = fla_modules.RMSNorm(d)
    for ours in (block.norm, block.mlp_norm):
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in norm.state_dict().items()
        }
    counted = sum(
        p.numel() for m in (block.mlp, block.norm, block.mlp_norm) for p in m.parameters()
    )
    assert counted == sum(p.numel() for p in theirs.parameters()) + 2 * d


def test_fla_causal_lm_names_map_by_the_prefix_table() -> None:
    fla_models = pytest.importorskip("fla.models")  # needs transformers too
    fla_config = fla_models.DeltaNetConfig(hidden_size=64, num_hidden_layers=2, num_heads=4,
                                           vocab_size=32)  # fmt: skip
    theirs = fla_models.DeltaNetForCausalLM(fla_config).state_dict()
    table = [("model.embeddings.", "embed."), ("model.layers.", "blocks."),
             ("model.norm.", "norm."), ("lm_head.", "head."), (".attn_norm.", ".norm."),
             (".attn.", ".mixer.")]  # fmt: skip
    mapped = {}
    for key, value in theirs.items():
        for old, new in table:
            key = key.replace(old, new, 1)
        mapped[key] = value.shape
    ours = FWPModel(ModelConfig(d_model=64, n_heads=4, vocab_size=32, block="llama")).state_dict()
    outside_mixer = {k: v.shape for k, v in ours.items() if ".mixer." not in k}
    assert outside_mixer == {k: v for k, v in mapped.items() if ".mixer." not in k}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_runs(name) -> None:
    fields = PRESETS[name]
    _needs(fields.get("mixer", "delta"))
    config = preset_config(name, vocab_size=32)
    logits, states = FWPModel(config)(_ids(B=1, T=5))
    assert logits.shape == (1, 5, 32) and len(states) == config.n_layers


@pytest.mark.parametrize("mixer", PUBLISHED_MIXERS)
def test_the_published_mixers_presets(mixer) -> None:
    for size, (d, L) in {"tiny": (64, 2), "small": (128, 4)}.items():
        fields = PRESETS[f"{mixer}-{size}"]
        assert fields == {"d_model": d, "n_layers": L, "n_heads": 4, "mixer": mixer,
                          "block": "llama"}  # fmt: skip
        # the same shape runs with a mixer that exists today
        config = preset_config(f"{mixer}-{size}", mixer="delta", vocab_size=32)
        assert (config.block, config.d_model, config.n_layers) == ("llama", d, L)
        logits, _ = FWPModel(config)(_ids(B=1, T=4))
        assert logits.shape == (1, 4, 32)


def test_matched_config_and_count_parameters_carry_the_block_fields() -> None:
    reference = preset_config("tiny", mixer="delta", vocab_size=50, block="llama", norm_eps=1e-5)
    classic = preset_config("tiny", mixer="delta", vocab_size=50)
    assert count_parameters(reference) == FWPModel(reference).num_parameters()
    assert count_parameters(reference) != count_parameters(classic)
    for mixer in ("lstm", "gated_delta"):
        matched = matched_config(reference, mixer)
        assert (matched.block, matched.norm_eps, matched.mlp_hidden) == ("llama", 1e-5, 0)
        assert abs(count_parameters(matched) / count_parameters(reference) - 1) <= 0.10
    fixed = matched_config(replace(reference, mlp_hidden=96), "lstm")
    assert fixed.mlp_hidden == 96 and fixed.mlp_size == 96


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"block": "gpt2"}, "block must be one of \\('classic', 'llama'\\), got 'gpt2'"),
        ({"block": "llama", "mlp_hidden": -1}, "mlp_hidden must be a non-negative integer"),
        ({"block": "llama", "mlp_hidden": 2.5}, "mlp_hidden must be a non-negative integer"),
        ({"block": "llama", "mlp_hidden": 64, "mlp_ratio": 0}, "mlp_hidden=64 sizes an MLP"),
        ({"block": "llama", "norm_eps": 0.0}, "norm_eps must be a positive finite number"),
        ({"block": "llama", "norm_eps": -1e-6}, "norm_eps must be a positive finite number"),
        ({"block": "llama", "norm_eps": math.nan}, "norm_eps must be a positive finite number"),
        ({"block": "llama", "norm_eps": math.inf}, "norm_eps must be a positive finite number"),
        ({"block": "llama", "norm_eps": True}, "norm_eps must be a positive finite number"),
        ({"block": "llama", "norm_eps": "1e-6"}, "norm_eps must be a positive finite number"),
        ({"norm_eps": 1e-5}, "norm_eps=1e-05 is the llama block's RMSNorm eps"),
    ],
)
def test_bad_block_fields(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        ModelConfig(vocab_size=5, **fields)


def test_the_classic_block_is_the_default_and_unchanged() -> None:
    config = ModelConfig(d_model=16, n_heads=2, vocab_size=11)
    assert (config.block, config.mlp_hidden, config.norm_eps) == ("classic", 0, 1e-6)
    model = FWPModel(config)
    assert type(model.norm) is nn.LayerNorm and model.norm.eps == 1e-5
    assert model.head.bias is not None
    block = model.blocks[0]
    assert type(block.norm) is nn.LayerNorm and type(block.mlp_norm) is nn.LayerNorm
    assert [type(m) for m in block.mlp] == [nn.Linear, nn.GELU, nn.Linear]
    assert block.mlp[0].weight.shape == (64, 16) and block.mlp[0].bias is not None
