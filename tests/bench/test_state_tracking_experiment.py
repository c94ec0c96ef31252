"""The state_tracking experiment: in every suite, its arms size-matched with the options they
name reaching the built layers; an exact running-product model passes its length criterion and a
guesser does not (through the protocol); the smoke experiment end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fastweights.bench.efficacy import protocol, report
from fastweights.bench.efficacy.experiments import SUITES
from fastweights.bench.efficacy.runner import run_suite
from fastweights.models import FWPModel, count_parameters
from fastweights.tasks.state_tracking import multiplication_table


def _experiment(suite: str):
    return next(e for e in SUITES[suite] if e.name == "state_tracking")


@pytest.mark.parametrize("suite", ["smoke", "quick", "full"])
def test_arms_are_size_matched_and_get_their_options(suite: str) -> None:
    experiment = _experiment(suite)
    assert experiment.seeds >= (1 if suite == "smoke" else 3)
    assert [s.task["group"] for s in experiment.settings] == ["Z2", "S3"]
    for setting in experiment.settings:
        task = protocol.build_task(experiment, setting)
        configs = protocol.model_configs(experiment, setting, task)
        reference = count_parameters(configs[0][1])
        for arm, config in configs:
            assert config.n_layers == 1 and config.block == "llama"
            ratio = count_parameters(config) / reference
            assert abs(ratio - 1) <= protocol.SIZE_TOLERANCE, (arm.label, ratio)
            mixer = FWPModel(config).blocks[0].mixer
            if arm.mixer in ("deltanet", "deltaproduct"):
                neg = arm.label != "deltanet β∈(0,1)"
                assert mixer.project.allow_neg_eigval is neg, arm.label
            if arm.mixer == "deltaproduct":
                assert mixer.n_h == 2


class _Tracker(nn.Module):
    """The running product, computed exactly from the group's table when ``good``; else the
    current input's id (right only where the product happens to equal it)."""

    def __init__(self, group: str, good: bool) -> None:
        super().__init__()
        self.table, self.good = multiplication_table(group), good

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        order = self.table.shape[0]
        ids = x.clamp(max=order - 1)
        if self.good:
            out, p = [ids[:, 0]], ids[:, 0]
            for t in range(1, x.shape[1]):
                p = self.table[ids[:, t], p]
                out.append(p)
            ids = torch.stack(out, 1)
        return 10 * nn.functional.one_hot(ids, order).float(), None


@pytest.mark.parametrize("setting_index", [0, 1])
def test_an_exact_tracker_meets_the_length_criterion_and_a_guesser_does_not(
    setting_index: int,
) -> None:
    experiment = _experiment("smoke")
    group = experiment.settings[setting_index].task["group"]
    for good in (True, False):
        record = protocol.run_unit(
            experiment, setting_index, 0, seeds=2,
            trainer=lambda task, model_config, train_config, g=good: _Tracker(group, g),
        )  # fmt: skip
        length = [run["length"]["sequence_accuracy"] for run in record["runs"]]
        if good:
            assert length == [1.0, 1.0] and record["reached"] == 2
        else:
            assert max(length) < 0.5 and record["reached"] == 0


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("matplotlib") is None,
    reason="the figure needs matplotlib: pip install fastweights[plots]",
)
def test_smoke_experiment_runs_end_to_end(tmp_path: Path) -> None:
    experiment = _experiment("smoke")
    written = run_suite("smoke", [experiment], seeds=None, out=tmp_path)
    assert [p.name for p in written] == ["smoke-state_tracking.jsonl"]
    records = report.read_records(written[0])
    rows = [r for r in records if r["kind"] == "row"]
    assert [(r["setting"], r["arm"]) for r in rows] == [
        (s, a) for s in experiment.setting_labels for a in experiment.arm_labels
    ]
    assert all(r["matched"] and "length" in r["summary"] for r in rows)
    claims = [r for r in records if r["kind"] == "claim"]
    assert len(claims) == len(experiment.claims)
    assert all(c["verdict"] != "not run" for c in claims)
    assert (tmp_path / "smoke-state_tracking.png").stat().st_size > 0
