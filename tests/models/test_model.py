"""FWPModel: streaming equals one call, generation, pooling heads, a short overfit, presets."""

from __future__ import annotations

import pytest
import torch

from fastweights.models import (
    FWPModel,
    ModelConfig,
    count_parameters,
    matched_config,
    preset_config,
)
from fastweights.nn import MIXERS, FastWeightState

TOL = {"rtol": 1e-9, "atol": 1e-9}


def _lm(mixer: str, seed: int = 0, **fields: object) -> FWPModel:
    torch.manual_seed(seed)
    config = ModelConfig(mixer=mixer, d_model=16, n_layers=2, n_heads=2, vocab_size=11, **fields)
    return FWPModel(config).double()


def _ids(B: int = 2, T: int = 13, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 11, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_prefill_then_streaming_decode_equals_full_forward(mixer) -> None:
    model, ids = _lm(mixer), _ids()
    full, _ = model(ids)
    logits, states = model(ids[:, :6])  # prefill
    steps = [logits]
    for t in range(6, ids.shape[1]):  # decode one token at a time with the carried states
        logits, states = model(ids[:, t : t + 1], states)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_a_short_overfit_lowers_the_loss(mixer) -> None:
    model = _lm(mixer, seed=1).float()
    ids = _ids(B=2, T=12, seed=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], f"{mixer}: {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize("fields", [{}, {"short_conv": 3}])
def test_generate_carries_the_state_and_matches_greedy_decoding(fields) -> None:
    model, prompt = _lm("delta", **fields), _ids(B=2, T=5)
    out = model.generate(prompt, 7, temperature=0)
    assert out.shape == (2, 12) and torch.equal(out[:, :5], prompt)
    for t in range(5, 12):  # each greedy token is the argmax of the full forward on its prefix
        logits, _ = model(out[:, :t])
        assert torch.equal(out[:, t], logits[:, -1].argmax(-1))
    sampled = model.generate(prompt, 4, generator=torch.Generator().manual_seed(0))
    again = model.generate(prompt, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sampled, again)


def test_vector_inputs_and_pooled_heads() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 9, 5)
    for pool, shape in (("none", (3, 9, 4)), ("last", (3, 4)), ("mean", (3, 4))):
        config = ModelConfig(mixer="srwm" if "srwm" in MIXERS else "delta", d_model=16,
                             n_heads=2, d_input=5, n_out=4, pool=pool)  # fmt: skip
        logits, states = FWPModel(config)(x)
        assert logits.shape == shape and len(states) == config.n_layers


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"mixer": "nonesuch", "vocab_size": 5}, "unknown mixer 'nonesuch'"),
        ({"vocab_size": 5, "d_input": 3}, "exactly one of vocab_size and d_input"),
        ({"d_input": 3}, "n_out must be given"),
        ({"vocab_size": 5, "pool": "max"}, "pool must be one of"),
        ({"vocab_size": 5, "n_layers": 0}, "n_layers must be a positive integer"),
        ({"vocab_size": 5, "short_conv": 1}, "short_conv must be 0 \\(none\\) or a kernel"),
        ({"vocab_size": 5, "short_conv": -2}, "short_conv must be 0 \\(none\\) or a kernel"),
        ({"vocab_size": 5, "mixer": "lstm", "short_conv": 4}, "'lstm' has no short conv"),
        ({"vocab_size": 5, "short_conv": 4, "mixer_options": {"short_conv": 2}}, "once"),
        ({"vocab_size": 5, "impl": "chunk", "mixer_options": {"impl": "recurrent"}}, "impl once"),
        ({"vocab_size": 5, "chunk_size": 8, "mixer_options": {"chunk_size": 8}}, "chunk_size once"),
        ({"vocab_size": 5, "chunk_size": 0}, "chunk_size must be a positive integer or None"),
        ({"vocab_size": 5, "chunk_size": True}, "chunk_size must be a positive integer or None"),
        (
            {"vocab_size": 5, "mixer": "softmax", "impl": "chunk"},
            "mixer 'softmax' has no impl option \\(impl='chunk'\\); it accepts: no options",
        ),
        (
            {"vocab_size": 5, "mixer": "lstm", "chunk_size": 16},
            "mixer 'lstm' has no chunk_size option",
        ),
        (
            {"vocab_size": 5, "mixer": "srwm", "chunk_size": 16},
            "mixer 'srwm' has no chunk_size option \\(chunk_size=16\\); it accepts: impl, seed",
        ),
    ],
)
def test_bad_configs(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        ModelConfig(**fields)


def test_impl_must_be_a_name() -> None:
    with pytest.raises(TypeError, match="impl must be a form name"):
        ModelConfig(vocab_size=5, impl=3)  # type: ignore[arg-type]


def test_impl_and_chunk_size_reach_every_block_and_the_forms_agree() -> None:
    chunked = _lm("gated_delta", impl="chunk", chunk_size=5)
    assert [(b.mixer.impl, b.mixer.chunk_size) for b in chunked.blocks] == [("chunk", 5)] * 2
    recurrent = _lm("gated_delta", impl="recurrent")
    assert all(b.mixer.impl == "recurrent" and b.mixer.chunk_size == 64 for b in recurrent.blocks)
    torch.testing.assert_close(chunked(_ids())[0], recurrent(_ids())[0], **TOL)
    cell = _lm("srwm", impl="recurrent")
    assert all(b.mixer.impl == "recurrent" for b in cell.blocks)
    default = ModelConfig(vocab_size=5)
    assert (default.impl, default.chunk_size) == (None, None)
    assert "impl" not in default.mixer_kwargs() and "chunk_size" not in default.mixer_kwargs()


@pytest.mark.parametrize(
    ("mixer", "impl", "available"),
    [
        ("oja", "chunk", "recurrent"),
        ("sum", "triton", "recurrent, chunk, triton_recurrent"),
        ("delta", "triton", "recurrent, chunk, triton_chunk, triton_recurrent"),
        ("srwm", "triton", "recurrent, fused, triton_recurrent"),
    ],
)
def test_a_form_the_mixer_lacks_is_one_error_listing_its_forms(mixer, impl, available) -> None:
    with pytest.raises(ValueError, match=f"no {impl!r} form; available: {available}$"):
        FWPModel(ModelConfig(mixer=mixer, d_model=16, n_heads=2, vocab_size=5, impl=impl))


def test_wrong_inputs_are_clear_errors() -> None:
    model = _lm("delta")
    with pytest.raises(TypeError, match="token ids"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="one per block"):
        model(_ids(), [None])


@pytest.mark.parametrize("mixer", ["sum", "gated_delta"])
def test_short_conv_reaches_every_block_and_streams(mixer) -> None:
    model, ids = _lm(mixer, short_conv=4), _ids(T=9)
    assert all(block.mixer.short_conv == 4 for block in model.blocks)
    plain = _lm(mixer)
    H, D = 2, 8
    grown = model.num_parameters() - plain.num_parameters()
    assert grown == model.config.n_layers * 3 * H * D * 4  # one 4-tap kernel per q, k, v channel
    full, states = model(ids)
    assert all(isinstance(state, FastWeightState) for state in states)
    logits, carried = model(ids[:, :2])  # a prefill shorter than the kernel
    steps = [logits]
    for t in range(2, ids.shape[1]):
        logits, carried = model(ids[:, t : t + 1], carried)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)
    for mine, whole in zip(carried, states, strict=True):
        torch.testing.assert_close(mine.fast, whole.fast, **TOL)
        torch.testing.assert_close(mine.conv, whole.conv, **TOL)


def test_matched_config_keeps_short_conv_where_the_mixer_takes_it() -> None:
    reference = preset_config("tiny", mixer="delta", vocab_size=50, short_conv=4)
    assert matched_config(reference, "gated_delta").short_conv == 4
    lstm = matched_config(reference, "lstm")
    assert lstm.short_conv == 0
    assert abs(count_parameters(lstm) / count_parameters(reference) - 1) <= 0.10


def test_matched_config_keeps_impl_and_chunk_size_where_the_mixer_takes_them() -> None:
    reference = preset_config("tiny", mixer="delta", vocab_size=50, impl="chunk", chunk_size=16)
    gated = matched_config(reference, "gated_delta")
    assert (gated.impl, gated.chunk_size) == ("chunk", 16)
    lstm = matched_config(reference, "lstm")
    assert (lstm.impl, lstm.chunk_size) == (None, None)
    with pytest.raises(ValueError, match="'oja' has no 'chunk' form"):  # no silent switch
        matched_config(reference, "oja")


def test_matched_presets_are_within_ten_percent() -> None:
    reference = preset_config("tiny", mixer="delta", vocab_size=50)
    target = count_parameters(reference)
    for mixer in MIXERS:
        size = count_parameters(matched_config(reference, mixer))
        assert abs(size / target - 1) <= 0.10, f"{mixer}: {size} vs {target}"
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge", vocab_size=5)


def test_fwp_presets_reports_every_mixer(capsys: pytest.CaptureFixture[str]) -> None:
    from fastweights.cli import main

    assert main(["presets", "--presets", "tiny", "--vocab-size", "32"]) == 0
    printed = capsys.readouterr().out
    rows = [line.split() for line in printed.splitlines() if line.startswith("  ")][1:]
    assert [row[0] for row in rows] == list(MIXERS)
    assert all(abs(float(row[3].rstrip("%"))) <= 10 for row in rows)
