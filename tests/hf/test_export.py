"""``fwp export RUN --hf DIR``: a character-level run and an fla checkpoint as Hugging Face
directories that ``AutoModelForCausalLM`` / ``AutoTokenizer`` read back to the same model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="transformers not installed (the hf extra)")
pytest.importorskip("tokenizers", reason="tokenizers not installed (the hf extra)")
safetensors = pytest.importorskip("safetensors.torch", reason="safetensors not installed")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from fastweights.cli import main  # noqa: E402
from fastweights.hf import FWPForCausalLM  # noqa: E402  (and the Auto classes registered)
from fastweights.hf.tokenizer import char_tokenizer, fast_tokenizer  # noqa: E402
from fastweights.models import FWPModel  # noqa: E402
from fastweights.tasks.char_vocab import CharVocab  # noqa: E402
from fastweights.train.run_dir import load_run  # noqa: E402


@pytest.fixture(scope="module")
def char_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "charlm"
    args = ["train", "charlm-delta", "--out", str(run), "--train.steps=2", "--train.eval_every=2",
            "--train.final_eval=false", "--model.d_model=32", "--model.n_layers=1"]  # fmt: skip
    assert main(args) == 0
    return run


def test_a_char_run_exports_with_its_tokenizer(char_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "hf"
    assert main(["export", str(char_run), "--hf", str(out)]) == 0
    assert "tokenizer: character-level" in capsys.readouterr().out
    task, model, _ = load_run(char_run)
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "ROMEO.\nBut, soft! what light through yonder window breaks?"
    ids = tokenizer(text)["input_ids"]
    assert ids == task.encode(text).tolist()
    assert tokenizer.decode(ids) == text
    x = torch.tensor([ids])
    torch.testing.assert_close(hf(x).logits, model(x)[0], rtol=0, atol=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_fwp.FWPForCausalLM"
    assert (out / "modeling_fwp.py").is_file()
    # greedy generate from transformers continues as fastweights' own generation
    ours = model.generate(x, 12, temperature=0)
    theirs = hf.generate(x, max_new_tokens=12, do_sample=False)
    assert torch.equal(ours, theirs)


def test_an_export_is_not_written_over_another_model(
    char_run: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert main(["export", str(char_run), "--hf", str(tmp_path)]) == 2
    assert "not a fastweights export (model_type 'llama')" in capsys.readouterr().err


def test_the_byte_vocabulary_tokenizes_as_char_vocab() -> None:
    text = "naïve café — ok\n"
    for vocab in (CharVocab.byte_level(), CharVocab.from_text("abc def\n")):
        tokenizer = fast_tokenizer(char_tokenizer(vocab))
        assert tokenizer(text)["input_ids"] == vocab.encode(text).tolist()
        assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None


def _fla_checkpoint(folder: Path) -> FWPModel:
    """An fla ``DeltaNetForCausalLM`` layout checkpoint (random weights) and our model of it."""
    from fastweights.interop.fla import fla_model_config, read_fla_config

    config = {"model_type": "delta_net", "hidden_size": 32, "num_heads": 4,
              "num_hidden_layers": 2, "vocab_size": 40, "norm_eps": 1e-6}  # fmt: skip
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = FWPModel(fla_model_config(read_fla_config(folder)))
    weights = {}
    for name, w in model.state_dict().items():
        name = re.sub(r"^blocks\.(\d+)\.norm\.", r"model.layers.\1.attn_norm.", name)
        name = re.sub(r"^blocks\.(\d+)\.mixer\.(project|out)\.", r"model.layers.\1.attn.", name)
        name = re.sub(r"^blocks\.(\d+)\.", r"model.layers.\1.", name)
        fixed = {"embed.weight": "model.embeddings.weight", "norm.weight": "model.norm.weight",
                 "head.weight": "lm_head.weight"}  # fmt: skip
        weights[fixed.get(name, name)] = (w + 0.1 * torch.randn_like(w)).contiguous()
    safetensors.save_file(weights, str(folder / "model.safetensors"))
    return model


def test_an_fla_checkpoint_exports(tmp_path: Path) -> None:
    from fastweights.interop.fla import load_fla_checkpoint

    _fla_checkpoint(tmp_path / "fla")
    out = tmp_path / "hf"
    with pytest.raises(ValueError, match="fla checkpoint; convert it with fwp export"):
        FWPForCausalLM.from_pretrained(tmp_path / "fla")
    assert main(["export", str(tmp_path / "fla"), "--hf", str(out)]) == 0
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    assert hf.config.mixer == "deltanet" and hf.config.block == "llama"
    x = torch.randint(0, 40, (2, 11))
    expected = load_fla_checkpoint(tmp_path / "fla")(x)[0]
    torch.testing.assert_close(hf(x).logits, expected, rtol=0, atol=1e-5)
