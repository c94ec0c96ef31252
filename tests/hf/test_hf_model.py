"""``FWPConfig`` / ``FWPForCausalLM`` / ``FWPCache``: the Auto round trip, cached == uncached
generation (one prompt and left-padded batches), O(1) cache memory, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="transformers not installed (the hf extra)")
pytest.importorskip("safetensors", reason="safetensors not installed (the hf extra)")

import transformers
from transformers import AutoConfig, AutoModelForCausalLM

from fastweights.hf import FWPCache, FWPConfig, FWPForCausalLM
from fastweights.nn import MIXERS

GROWING = {"softmax", "transformer"}  # key/value caches; every other mixer's state is fixed
VOCAB = 23
# from_pretrained's dtype argument: torch_dtype up to transformers 4.5x, dtype in 5.x
DTYPE = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"


def tiny(mixer: str, **kwargs: object) -> FWPForCausalLM:
    torch.manual_seed(0)
    config = FWPConfig(mixer=mixer, vocab_size=VOCAB, d_model=16, n_layers=2, n_heads=2,
                       mlp_ratio=2, **kwargs)  # fmt: skip
    return FWPForCausalLM(config).double().eval()


def prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """A left-padded batch of three prompts (lengths 7, 4, 6) and its attention mask."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (3, 7), generator=g)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, :3] = 0
    mask[2, :1] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_auto_round_trip_is_equal(mixer: str, tmp_path: Path) -> None:
    model = tiny(mixer)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), FWPConfig)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, **{DTYPE: torch.float64}).eval()
    assert type(loaded) is FWPForCausalLM
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    x = torch.randint(0, VOCAB, (2, 9))
    # equal weights; the logits to fp64 rounding (a loaded weight's memory layout may differ)
    torch.testing.assert_close(model(x).logits, loaded(x).logits, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_cached_generation_equals_uncached(mixer: str) -> None:
    model = tiny(mixer)
    ids, mask = prompts()
    options = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
    for x, m in ((ids[:1], mask[:1]), (ids, mask)):  # one prompt, then the left-padded batch
        cached = model.generate(x, attention_mask=m, use_cache=True, **options)
        uncached = model.generate(x, attention_mask=m, use_cache=False, **options)
        assert torch.equal(cached, uncached), mixer
    # each row of the batch continues as that prompt alone
    for row in range(3):
        alone = ids[row : row + 1, mask[row].bool()]
        single = model.generate(alone, use_cache=True, **options)
        assert torch.equal(single[0, -6:], cached[row, -6:]), (mixer, row)


def test_the_model_reads_no_pad() -> None:
    """Changing the pad ids (even to ids outside the vocabulary) changes nothing."""
    model = tiny("delta")
    ids, mask = prompts()
    out = model(ids, attention_mask=mask).logits
    other = model(ids.masked_fill(mask == 0, VOCAB + 5), attention_mask=mask).logits
    assert torch.equal(out, other)


def test_beam_search_and_sampling_come_from_transformers() -> None:
    model = tiny("delta")
    ids, mask = prompts()
    beams = dict(max_new_tokens=5, num_beams=3, do_sample=False, pad_token_id=0)
    cached = model.generate(ids, attention_mask=mask, use_cache=True, **beams)
    assert torch.equal(cached, model.generate(ids, attention_mask=mask, use_cache=False, **beams))
    sample = dict(max_new_tokens=5, do_sample=True, top_k=4, top_p=0.9, pad_token_id=0)
    torch.manual_seed(3)
    first = model.generate(ids, attention_mask=mask, **sample)
    torch.manual_seed(3)
    assert torch.equal(first, model.generate(ids, attention_mask=mask, use_cache=False, **sample))


@pytest.mark.parametrize("mixer", ["delta", "deltanet", "lstm", "srwm", "softmax"])
def test_cache_memory_is_constant_in_the_length_for_fast_weights(mixer: str) -> None:
    model = tiny(mixer, **({"short_conv": 4} if mixer == "delta" else {}))
    x = torch.randint(1, VOCAB, (2, 5))  # no pad id 0 in the prompts
    sizes = []
    for new in (2, 30):
        out = model.generate(x, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                             pad_token_id=0, return_dict_in_generate=True)  # fmt: skip
        cache = out.get("cache", out.get("past_key_values"))
        assert isinstance(cache, FWPCache) and cache.get_seq_length() == 5 + new - 1
        sizes.append(cache.nbytes())
    if mixer in GROWING:
        assert sizes[1] > sizes[0]
    else:
        assert sizes[0] == sizes[1] > 0


def test_labels_give_the_next_token_loss() -> None:
    model = tiny("delta")
    x = torch.randint(0, VOCAB, (2, 8))
    out = model(x, labels=x)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB),
                                                 x[:, 1:].reshape(-1))  # fmt: skip
    assert torch.allclose(out.loss, expected)


def test_a_bad_config_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown mixer 'nope'"):
        FWPConfig(mixer="nope")
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        FWPConfig(tie_word_embeddings=True)
    config = FWPConfig(mixer="deltanet", vocab_size=50, d_model=32, n_layers=3, n_heads=2)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 3, 2)


def _save(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    tiny("delta").save_pretrained(folder)
    return folder


def test_a_mismatched_vocabulary_is_refused(tmp_path: Path) -> None:
    folder = _save(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"vocab_size": VOCAB + 7}))
    with pytest.raises(ValueError, match=r"vocab_size 30.*\[23, 16\], the config's \[30, 16\]"):
        AutoModelForCausalLM.from_pretrained(folder)


def test_missing_safetensors_is_refused(tmp_path: Path) -> None:
    folder = _save(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        FWPForCausalLM.from_pretrained(folder)


def test_a_directory_of_another_model_type_is_refused(tmp_path: Path) -> None:
    folder = _save(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for kind, message in (("llama", "type 'llama', not 'fwp'"), ("delta_net", "fwp export")):
        (folder / "config.json").write_text(json.dumps(config | {"model_type": kind}))
        with pytest.raises(ValueError, match=message):
            FWPForCausalLM.from_pretrained(folder)
        with pytest.raises(ValueError, match=message):
            FWPConfig.from_pretrained(folder)
