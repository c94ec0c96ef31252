"""``--model.impl`` and ``--model.chunk_size``: typed ``ModelConfig`` overrides for ``fwp train``,
saved with the run config and read back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.models import ModelConfig
from fastweights.train.overrides import apply_overrides
from fastweights.train.presets import configs
from fastweights.train.run_dir import load_run

SHORT = ["--train.steps=2", "--train.eval_every=2", "--train.batch_size=2", "--model.d_model=16"]


def test_impl_and_chunk_size_parse_typed() -> None:
    sections = {"model": (ModelConfig, {})}
    values = apply_overrides(sections, ["--model.impl=chunk", "model.chunk_size=32"])
    assert values == {"model": {"impl": "chunk", "chunk_size": 32}}
    values = apply_overrides(sections, ["model.impl=none", "model.chunk_size=None"])
    assert values == {"model": {"impl": None, "chunk_size": None}}
    with pytest.raises(ValueError, match=r"model\.chunk_size: expected int, got 'big'"):
        apply_overrides(sections, ["model.chunk_size=big"])


def test_a_preset_takes_them() -> None:
    _, model, _ = configs("copy-delta", ["--model.impl=chunk", "--model.chunk_size=32"])
    assert (model.impl, model.chunk_size) == ("chunk", 32)
    with pytest.raises(ValueError, match="mixer 'srwm' has no chunk_size option"):
        configs("copy-delta", ["--model.mixer=srwm", "--model.chunk_size=32"])


def test_the_run_config_round_trips_them() -> None:
    config = ModelConfig(vocab_size=5, impl="recurrent", chunk_size=8)
    saved = json.loads(json.dumps(dataclasses.asdict(config)))
    assert ModelConfig(**saved) == config
    old = {k: v for k, v in saved.items() if k not in ("impl", "chunk_size")}  # an older run
    assert ModelConfig(**old) == ModelConfig(vocab_size=5)


def test_fwp_train_runs_the_form_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "copy-delta", "--out", str(out), *SHORT, "--model.impl=recurrent",
            "--model.chunk_size=8"]  # fmt: skip
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())["model"]
    assert (saved["impl"], saved["chunk_size"]) == ("recurrent", 8)
    _, model, _ = load_run(out)
    assert [(b.mixer.impl, b.mixer.chunk_size) for b in model.blocks] == [("recurrent", 8)] * len(
        model.blocks
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("--model.impl=triton", "no 'triton' form; available: recurrent, chunk, triton_chunk"),
        ("--model.chunk_size=0", "chunk_size must be a positive integer or None"),
    ],
)
def test_bad_forms_are_one_line(override, message, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "copy-delta", "--out", "run", *SHORT, override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_bare_boolean_field_is_true_and_a_bare_other_field_is_refused() -> None:
    _, _, train = configs("copy-delta", ["--train.compile"])
    assert train.compile is True
    _, _, train = configs("copy-delta", ["--train.compile=false"])
    assert train.compile is False
    with pytest.raises(ValueError, match=r"not of the form section\.field=value"):
        configs("copy-delta", ["--train.steps"])
