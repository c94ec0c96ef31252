"""``fwp train``: presets, typed overrides, resume, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.models import ModelConfig
from fastweights.tasks import FormalLanguage
from fastweights.train import TrainConfig
from fastweights.train.overrides import apply_overrides
from fastweights.train.presets import RUN_PRESETS, configs

SHORT = ["--train.steps=6", "--train.eval_every=3", "--train.batch_size=4", "--model.d_model=16"]


def test_overrides_are_typed_and_checked() -> None:
    sections = {"task": (FormalLanguage, {}), "train": (TrainConfig, {})}
    values = apply_overrides(sections, ["task.language=dyck1", "--train.lr=1e-3", "train.steps=7"])
    assert values == {"task": {"language": "dyck1"}, "train": {"lr": 1e-3, "steps": 7}}
    for bad, match in [
        (["train.steps=seven"], "expected int"),
        (["train.nope=1"], "unknown field train.nope"),
        (["model.d_model=8"], "unknown section 'model'"),
        (["train.steps"], "section.field=value"),
    ]:
        with pytest.raises(ValueError, match=match):
            apply_overrides(sections, bad)


@pytest.mark.parametrize("preset", list(RUN_PRESETS))
def test_every_preset_builds_a_task_and_a_matching_model(preset) -> None:
    if RUN_PRESETS[preset]["task"][0] == "token_lm":
        pytest.importorskip("tokenizers", reason="the tokenizers package (the lm extra)")
    task, model, train = configs(preset, [])
    assert isinstance(model, ModelConfig) and isinstance(train, TrainConfig)
    assert model.n_out == task.n_out
    assert (model.vocab_size, model.d_input) == (task.vocab_size, task.d_input)


def test_fwp_train_runs_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "copy-delta", "--out", str(out), *SHORT]) == 0
    assert "eval accuracy" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    longer = [*SHORT[1:], "--train.steps=9"]
    assert main(["train", "copy-delta", "--out", str(out), "--resume", *longer]) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 10))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "nonesuch", "--out", "x"], "unknown preset 'nonesuch'"),
        (["train", "copy-delta", "--out", "x", "--train.steps=abc"], "expected int"),
        (["train", "copy-delta", "--out", "missing-dir", "--resume"], "no checkpoint"),
    ],
)
def test_errors_are_one_line_and_exit_2(argv, message, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unknown_options_are_rejected_for_commands_without_overrides() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["list", "rules", "--model.d_model=3"])
    assert exit_info.value.code == 2


def test_the_feedback_channels_come_from_the_task_unless_set() -> None:
    task, model, _ = configs("meta-srnet1993", ["task.n_labels=5"])
    assert task.feedback_dims == model.feedback == 5
    assert configs("meta-srnet1993", ["model.feedback=0"])[1].feedback == 0
