"""The meta experiment's pieces: early/late losses of an episodic task, the ``learns`` verdict,
the feedback in the arms' configs, and the report's early-loss column."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastweights.bench.efficacy import findings, protocol, report
from fastweights.bench.efficacy.evaluation import evaluate_split
from fastweights.bench.efficacy.experiments import SUITES
from fastweights.bench.efficacy.spec import Arm, Claim, Experiment, Setting
from fastweights.tasks import MQAR, MetaAssociation


class _Forgetful(nn.Module):
    """Logits that favour the true label more the later the position (a stand-in learner that
    peeks at the next step's feedback, so its error falls along the episode)."""

    def __init__(self, task: MetaAssociation) -> None:
        super().__init__()
        self.task, self.scale = task, nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        B, T, _ = x.shape
        labels = torch.zeros(B, T, self.task.n_labels)
        labels[:, :-1] = x[:, 1:, self.task.n_items :]
        ramp = torch.linspace(0, 4, T).view(1, T, 1)
        return self.scale * ramp * labels, None


def test_evaluation_reports_early_and_late_losses_of_episodic_tasks() -> None:
    task = MetaAssociation(n_items=3, n_labels=3, length=12)
    found = evaluate_split(_Forgetful(task), task, seed=1, batches=2, batch_size=8)
    assert found["late_loss"] < found["loss"] < found["early_loss"]


def test_non_episodic_tasks_have_no_phases() -> None:
    task = MQAR(vocab_size=64, seq_len=16, num_kv_pairs=2)

    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return torch.zeros(*x.shape, task.n_out), None

    found = evaluate_split(Constant(), task, seed=1, batches=1, batch_size=2)
    assert found["early_loss"] is None and found["late_loss"] is None


def _row(early: list[float], late: list[float]) -> dict:
    runs = [{"test": {"early_loss": e, "late_loss": la}} for e, la in zip(early, late, strict=True)]
    return {"setting": "s", "arm": "a", "runs": runs}


def _toy(claim: Claim) -> Experiment:
    return Experiment(
        name="toy", title="toy", source="-", finding="-", task="meta_association",
        settings=(Setting("s"),), arms=(Arm("a", "srnet1993"),), model={}, train={"steps": 1},
        lrs=(1e-3,), metric="late_loss", claims=(claim,),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("early", "late", "expected"),
    [
        ([1.0, 1.1, 1.05], [0.5, 0.55, 0.6], "agrees"),
        ([0.5, 0.55, 0.6], [1.0, 1.1, 1.05], "disagrees"),
        ([1.0, 0.5, 1.0], [0.6, 1.0, 0.8], "inconclusive"),
        ([1.0], [0.5], "inconclusive"),
    ],
)
def test_learns_verdict(early: list[float], late: list[float], expected: str) -> None:
    claim = Claim("a learns", "learns", ("a",), "s")
    assert findings.verdict(claim, _toy(claim), [_row(early, late)], [])["verdict"] == expected


def test_meta_arms_get_the_feedback_and_match_in_size() -> None:
    for suite in ("smoke", "quick"):
        meta = next(e for e in SUITES[suite] if e.name == "meta")
        setting = meta.settings[0]
        task = protocol.build_task(meta, setting)
        configs = protocol.model_configs(meta, setting, task)
        assert all(config.feedback == task.feedback_dims for _, config in configs)
        sizes = [protocol.count_parameters(config) for _, config in configs]
        assert all(abs(size / sizes[0] - 1) <= protocol.SIZE_TOLERANCE for size in sizes)
        # the ablations are the reference net's own size, at its width
        assert configs[1][1].d_model == configs[2][1].d_model == configs[0][1].d_model


def test_report_shows_the_early_loss_column() -> None:
    summary = {"n": 2, "mean": 1.0, "std": 0.1, "ci95": [0.9, 1.1]}
    row = {"kind": "row", "setting": "s", "arm": "a", "params": 10, "params_ratio": 1.0,
           "matched": True, "chosen_lr": 0.01, "summary": {"test": summary, "test_early": summary},
           "reached": None, "runs": [{}, {}], "wall_s": 3.0}  # fmt: skip
    run = {"kind": "run", "experiment": "toy", "run_id": "x", "timestamp": "t", "wall_s": 3.0,
           "machine": {"device_name": "cpu", "torch": "2", "commit": "c", "python": "3"},
           "threads": 1, "jobs": 1, "seeds": 2, "criterion": None,
           "definition": {"title": "t", "source": "s", "metric": "late_loss",
                          "higher_is_better": False, "lrs": [0.01], "eval_batches": 1,
                          "eval_batch_size": 1,
                          "train": {"steps": 1, "batch_size": 1}}}  # fmt: skip
    text = "\n".join(report.experiment_markdown([run, row], "quick"))
    assert "| test early_loss | test late_loss |" in text and "| 1 ± 0.1 | 1 ± 0.1 |" in text
