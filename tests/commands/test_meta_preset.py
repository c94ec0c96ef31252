"""The ``meta-srnet1993`` run preset: the 1993 net with its eval units on the task's feedback,
trained by ``fwp train`` and shown from inside by ``fwp inspect``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.train.presets import configs


def test_the_preset_routes_the_task_feedback_to_the_eval_units() -> None:
    task, model, _ = configs("meta-srnet1993", [])
    assert model.mixer == "srnet1993" and model.feedback == task.feedback_dims > 0
    assert model.d_input == task.d_input


@pytest.mark.slow  # a few training steps and a report with every picture of the 1993 net
def test_train_then_inspect_shows_the_1993_net_from_inside(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    short = ["--train.steps=2", "--train.eval_every=2", "--train.eval_batches=1"]
    assert main(["train", "meta-srnet1993", "--out", str(run), *short]) == 0
    report = tmp_path / "report.html"
    assert main(["inspect", str(run), "--out", str(report), "--no-gif"]) == 0
    text = report.read_text(encoding="utf-8")
    for name in ("srnet_microsteps", "srnet_machinery", "srnet_traffic", "srnet_integral"):
        assert f'id="layer-0-{name}"' in text
