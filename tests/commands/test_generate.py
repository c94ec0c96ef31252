"""``fwp generate``: continues text with a character-level LM run; other runs fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastweights.cli import main

SHORT = ["--train.steps=2", "--train.eval_every=2", "--train.batch_size=4", "--model.d_model=16"]


def test_a_run_without_text_encoding_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "copy-delta", "--out", str(tmp_path / "run"), *SHORT]) == 0
    assert main(["generate", str(tmp_path / "run"), "--prompt", "hello"]) == 2
    assert "has no text encoding" in capsys.readouterr().err


def test_a_missing_run_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", str(tmp_path / "nowhere"), "--prompt", "x"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_language_model_run_continues_the_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = str(tmp_path / "lm")
    assert main(["train", "charlm-delta", "--out", run, "--task.seq_len=16", *SHORT]) == 0
    capsys.readouterr()
    argv = ["generate", run, "--prompt", "ROMEO:", "--tokens", "12", "--seed", "3"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) == len("ROMEO:") + 12
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # the same seed, the same text
    assert main(["generate", run, "--prompt", ""]) == 2
