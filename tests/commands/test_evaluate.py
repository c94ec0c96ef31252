"""``fwp eval``: a run's checkpoint scores what its last evaluation recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.tasks import CharLM

SHORT = ["--train.steps=4", "--train.eval_every=2", "--train.batch_size=4", "--model.d_model=16"]


def test_eval_reproduces_the_last_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "copy-delta", "--out", str(run), *SHORT]) == 0
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    printed = capsys.readouterr().out
    assert f"eval loss {last['eval_loss']:.4f}" in printed
    assert f"eval accuracy {last['eval_accuracy']:.4f}" in printed
    assert main(["eval", str(run), "--test-split"]) == 0
    assert "(test)" in capsys.readouterr().out


def test_eval_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    assert main(["eval", str(tmp_path / "bad")]) == 2
    assert "not a valid run config" in capsys.readouterr().err


def test_a_language_model_is_scored_on_validation_then_on_test_text(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "lm"
    assert main(["train", "charlm-delta", "--out", str(run), "--task.seq_len=16", *SHORT]) == 0
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    validation = capsys.readouterr().out
    assert f"eval loss {last['eval_loss']:.4f}" in validation
    assert f"bits per char {last['eval_bits_per_char']:.4f}" in validation
    characters = CharLM(split="valid").n_symbols - 1  # every prediction of the split, once
    assert f"(the whole validation text, {characters:,} characters, 4 streams" in validation
    assert main(["eval", str(run), "--test-split"]) == 0
    test = capsys.readouterr().out
    assert "(test)" in test and f"eval loss {last['eval_loss']:.4f}" not in test


def test_eval_json_reports_the_whole_split_carried_and_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "lm"
    fast = ["--task.seq_len=64", "--train.steps=2", "--train.eval_every=2", "--train.batch_size=64",
            "--model.d_model=16", "--train.final_eval=false"]  # fmt: skip
    assert main(["train", "charlm-delta", "--out", str(run), *fast]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--test-split", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["streams"] == 64
    assert result["bpc_characters"] == CharLM(split="test").n_symbols - 1
    assert {"bpc_carried", "bpc_afresh", "eval_loss", "eval_bits_per_char"} <= result.keys()
    assert main(["eval", str(run), "--json"]) == 0  # a run's own split: validation
    assert json.loads(capsys.readouterr().out)["split"] == "validation"
