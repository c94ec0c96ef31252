"""``fwp demo`` trains both runs, prints the comparison and leaves the runs on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.commands import demo
from fastweights.models import count_parameters
from fastweights.train.presets import configs


def test_demo_prints_the_table_and_keeps_both_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real demo trains 300 steps each (about a minute); the test checks the plumbing
    short = ["--train.steps=4", "--train.eval_every=2", "--train.batch_size=4"]
    monkeypatch.setattr(demo, "SETTINGS", short)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "sum rule (linear Transformer)" in out and "delta rule (DeltaNet)" in out
    assert any(
        line.startswith(("As in the paper", "Both", "Neither", "Unlike"))
        for line in out.splitlines()
    )
    assert f"fwp train ar-editing-deltanet --out {tmp_path / 'demo'}/ar-editing-deltanet" in out
    for preset in ("ar-editing-sum", "ar-editing-delta"):
        assert (tmp_path / "demo" / preset / "checkpoint.pt").is_file()
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2  # it does not overwrite runs


def test_the_published_deltanet_preset_is_the_demo_task_at_the_demo_size() -> None:
    task, model, _ = configs("ar-editing-deltanet", demo.SETTINGS)
    demo_task, delta, train = configs("ar-editing-delta", demo.SETTINGS)
    assert task == demo_task and train.steps == 300 and "--train.steps=300" in demo.PUBLISHED
    assert (model.mixer, model.block) == ("deltanet", "llama")
    assert abs(count_parameters(model) / count_parameters(delta) - 1) < 0.01
