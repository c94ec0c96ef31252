"""A whole fla checkpoint directory (``config.json`` + weights) loads as an ``FWPModel`` that
computes what fla's model computes (its transcription), and bad directories are clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from fla_transcription import causal_lm

from fastweights.interop.fla import is_fla_checkpoint, load_fla_checkpoint
from fastweights.models import FWPModel

safetensors = pytest.importorskip("safetensors.torch", reason="safetensors not installed")

CONFIGS = {
    "delta_net": {"model_type": "delta_net", "hidden_size": 32, "num_heads": 4,
                  "num_hidden_layers": 2, "vocab_size": 40, "use_gate": True, "norm_eps": 1e-6},
    "gated_deltanet": {"model_type": "gated_deltanet", "hidden_size": 32, "num_heads": 2,
                       "head_dim": 16, "expand_v": 1.0, "num_hidden_layers": 2,
                       "vocab_size": 40, "intermediate_size": 48, "norm_eps": 1e-6,
                       "use_gate": True},
}  # fmt: skip


def _fla_names(model: FWPModel) -> dict[str, torch.Tensor]:
    """Our weights under fla's names: the layout fla's ``save_pretrained`` writes."""
    out = {}
    for name, w in model.state_dict().items():
        name = re.sub(r"^blocks\.(\d+)\.norm\.", r"model.layers.\1.attn_norm.", name)
        name = re.sub(r"^blocks\.(\d+)\.mixer\.(project|out)\.", r"model.layers.\1.attn.", name)
        name = re.sub(r"^blocks\.(\d+)\.", r"model.layers.\1.", name)
        fixed = {"embed.weight": "model.embeddings.weight", "norm.weight": "model.norm.weight",
                 "head.weight": "lm_head.weight"}  # fmt: skip
        out[fixed.get(name, name)] = w.detach().clone().contiguous()
    return out


def _write(folder: Path, config: dict, weights: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    safetensors.save_file(weights, str(folder / "model.safetensors"))
    return folder


def _checkpoint(tmp_path: Path, kind: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """An fla-layout checkpoint with random weights (norms perturbed away from ones)."""
    torch.manual_seed(0)
    config = CONFIGS[kind]
    from fastweights.interop.fla import fla_model_config, read_fla_config

    _write(tmp_path / "probe", config, {})  # the defaults filled in, to size a model
    model = FWPModel(fla_model_config(read_fla_config(tmp_path / "probe")))
    weights = {n: w + 0.1 * torch.randn_like(w) for n, w in _fla_names(model).items()}
    return _write(tmp_path / kind, config, weights), weights


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_a_checkpoint_loads_and_computes_fla_s_model(tmp_path: Path, kind: str) -> None:
    folder, weights = _checkpoint(tmp_path, kind)
    assert is_fla_checkpoint(folder)
    model = load_fla_checkpoint(folder).double()
    assert not model.training and model.config.block == "llama"
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(2))
    logits, _ = model(ids)
    full = json.loads((folder / "config.json").read_text())
    cfg = {"qk_activation": "silu", "qk_norm": "l2", "use_short_conv": True} | full
    expected = causal_lm({n: w.double() for n, w in weights.items()}, ids, cfg)
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9)
    # generation carries the fast weights: the last step equals the full forward
    generated = model.generate(ids[:1, :5], 4, temperature=0)
    full_logits, _ = model(generated[:, :-1])
    assert generated[0, -1] == full_logits[0, -1].argmax()


def test_tied_embeddings_and_sharded_weights(tmp_path: Path) -> None:
    _, weights = _checkpoint(tmp_path, "delta_net")
    config = CONFIGS["delta_net"] | {"tie_word_embeddings": True}
    weights.pop("lm_head.weight")
    shard = tmp_path / "sharded"
    shard.mkdir()
    (shard / "config.json").write_text(json.dumps(config))
    names = sorted(weights)
    halves = {"model-00001-of-00002.safetensors": names[::2],
              "model-00002-of-00002.safetensors": names[1::2]}  # fmt: skip
    for file, part in halves.items():
        safetensors.save_file({n: weights[n] for n in part}, str(shard / file))
    index = {"weight_map": {n: file for file, part in halves.items() for n in part}}
    (shard / "model.safetensors.index.json").write_text(json.dumps(index))
    model = load_fla_checkpoint(shard)
    torch.testing.assert_close(model.head.weight, weights["model.embeddings.weight"])


def test_bad_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    folder, weights = _checkpoint(tmp_path, "delta_net")
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_fla_checkpoint(tmp_path / "nowhere")
    bad = _write(tmp_path / "llama", {"model_type": "llama"}, {})
    with pytest.raises(ValueError, match="model_type 'llama' is not an fla model we load"):
        load_fla_checkpoint(bad)
    assert not is_fla_checkpoint(bad)
    hybrid = _write(tmp_path / "hybrid", CONFIGS["delta_net"] | {"attn": {"layers": [1]}}, weights)
    with pytest.raises(ValueError, match="hybrid attention layers"):
        load_fla_checkpoint(hybrid)
    missing = {n: w for n, w in weights.items() if n != "model.layers.1.attn.b_proj.weight"}
    with pytest.raises(ValueError, match="nothing for"):
        load_fla_checkpoint(_write(tmp_path / "missing", CONFIGS["delta_net"], missing))
    extra = weights | {"model.layers.0.attn.extra": torch.zeros(1)}
    with pytest.raises(ValueError, match="no place for"):
        load_fla_checkpoint(_write(tmp_path / "extra", CONFIGS["delta_net"], extra))
    wrong = CONFIGS["delta_net"] | {"vocab_size": 41}
    with pytest.raises(ValueError, match="has shape"):
        load_fla_checkpoint(_write(tmp_path / "wrong", wrong, weights))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_fla_checkpoint(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        load_fla_checkpoint(folder)


@pytest.mark.parametrize("kind", ["DeltaNet", "GatedDeltaNet"])
def test_fla_s_own_save_pretrained_loads(tmp_path: Path, kind: str) -> None:
    models = pytest.importorskip("fla.models", reason="fla (flash-linear-attention) not installed")
    options = {"hidden_size": 32, "num_heads": 4, "num_hidden_layers": 2, "vocab_size": 40}
    if kind == "GatedDeltaNet":
        options |= {"head_dim": 8}
    config = getattr(models, f"{kind}Config")(**options)
    torch.manual_seed(0)
    theirs = getattr(models, f"{kind}ForCausalLM")(config)
    theirs.save_pretrained(tmp_path / "fla")
    ours = load_fla_checkpoint(tmp_path / "fla").double()
    count = sum(p.numel() for p in theirs.parameters())
    assert ours.num_parameters() == count
    weights = {n: w.double() for n, w in theirs.state_dict().items()}
    ids = torch.randint(0, 40, (2, 7), generator=torch.Generator().manual_seed(2))
    saved = json.loads((tmp_path / "fla" / "config.json").read_text())
    expected = causal_lm(weights, ids, saved)
    torch.testing.assert_close(ours(ids)[0], expected, rtol=1e-9, atol=1e-9)


def test_fwp_generate_and_inspect_take_an_fla_checkpoint(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib", reason="the report's pictures need matplotlib")
    from fastweights.cli import main

    folder, _ = _checkpoint(tmp_path, "gated_deltanet")
    assert main(["generate", str(folder), "--prompt", "1 2 3", "--tokens", "4"]) == 0
    ids = capsys.readouterr().out.split()
    assert ids[:3] == ["1", "2", "3"] and len(ids) == 7 and all(0 <= int(i) < 40 for i in ids)
    out = tmp_path / "report.html"
    assert main(["inspect", str(folder), "--input", "5 6 7 8", "--out", str(out)]) == 0
    assert out.stat().st_size > 0 and "2 layers, 4 steps" in capsys.readouterr().out
    assert main(["inspect", str(folder), "--out", str(out)]) == 2  # no evaluation data
    assert "give --input" in capsys.readouterr().err
    assert main(["generate", str(folder), "--prompt", "hello"]) == 2  # no tokenizer.json
    assert "space-separated token ids" in capsys.readouterr().err
