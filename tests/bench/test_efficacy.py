"""The efficacy benchmark: statistics, fair sizes, lr selection, verdicts, and the smoke suite."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from fastweights.bench.efficacy import findings, protocol, report, stats
from fastweights.bench.efficacy.experiments import SUITES
from fastweights.bench.efficacy.runner import redecide, run_suite
from fastweights.bench.efficacy.spec import Arm, Claim, Criterion, Experiment, Setting
from fastweights.cli import main
from fastweights.models import count_parameters
from fastweights.tasks import TASKS
from fastweights.tasks.formal import _targets

# --- stats -----------------------------------------------------------------------------------


def _t_cdf(t: float, df: int) -> float:
    """Student's t CDF by Simpson's rule on the density (independent of the tabulated values)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    n = 20000
    xs = torch.linspace(0.0, t, n + 1, dtype=torch.float64)
    f = torch.exp(log_c - (df + 1) / 2 * torch.log1p(xs**2 / df))
    w = torch.ones(n + 1, dtype=torch.float64)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return 0.5 + float((w * f).sum()) * (t / n) / 3


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 30, 31, 60, 200])
def test_t_quantile_gives_975_percent(df: int) -> None:
    assert _t_cdf(stats.t_quantile_975(df), df) == pytest.approx(0.975, abs=2e-5)


def test_t_quantile_known_values_and_errors() -> None:
    assert stats.t_quantile_975(2) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_quantile_975(4) == pytest.approx(2.776, abs=1e-3)
    assert stats.t_quantile_975(120) == pytest.approx(1.980, abs=1e-3)
    assert stats.t_quantile_975(10**6) == pytest.approx(1.95996, abs=1e-4)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="degrees of freedom"):
            stats.t_quantile_975(bad)  # type: ignore[arg-type]


def test_summarize_known_values() -> None:
    s = stats.summarize([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)
    half = 4.3027 / math.sqrt(3)
    assert s.ci95 == pytest.approx((2 - half, 2 + half))
    one = stats.summarize([0.7])
    assert (one.mean, one.std, one.ci95) == (0.7, None, None)
    assert stats.summarize([5.0, 5.0]).ci95 == (5.0, 5.0)
    with pytest.raises(ValueError, match="no values"):
        stats.summarize([])
    with pytest.raises(ValueError, match="finite"):
        stats.summarize([1.0, float("nan")])


def test_difference_interval() -> None:
    diff, lo, hi = stats.difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    half = 4.3027 * math.sqrt(1.0 / 3)  # Welch error, df = 2
    assert (diff, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert stats.difference([1.0], [0.0, 1.0]) is None


# --- fair sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", ["quick", pytest.param("full", marks=pytest.mark.slow)])
def test_suite_sizes_match_within_ten_percent(suite: str) -> None:
    for experiment in SUITES[suite]:
        if experiment.task not in TASKS:
            continue
        for setting in experiment.settings:
            task = protocol.build_task(experiment, setting)
            configs = protocol.model_configs(experiment, setting, task)
            reference = count_parameters(configs[0][1])
            assert [arm.label for arm, _ in configs] == experiment.arm_labels
            for arm, config in configs:
                assert config.mixer == arm.mixer and config.mixer_options == dict(arm.options)
                assert all(getattr(config, name) == value for name, value in arm.model.items())
                ratio = count_parameters(config) / reference
                assert abs(ratio - 1) <= protocol.SIZE_TOLERANCE, (setting.label, arm.label, ratio)


@pytest.mark.parametrize("suite", ["smoke", "quick", "full"])
def test_published_layers_are_arms_in_their_block_beside_the_minimal_ones(suite: str) -> None:
    for experiment in (e for e in SUITES[suite] if e.name in ("mqar", "charlm")):
        by_mixer = {arm.mixer: arm for arm in experiment.arms}
        for published, minimal in (("transformer", "softmax"), ("linear_transformer", "sum"),
                                   ("deltanet", "delta")):  # fmt: skip
            assert by_mixer[published].model == {"block": "llama"}, experiment.name
            assert by_mixer[minimal].model == {} and "(minimal)" in by_mixer[minimal].label
        assert experiment.arms[0].mixer == "softmax" and experiment.note
        setting = experiment.settings[-1]
        task = protocol.build_task(experiment, setting)
        reference = protocol.reference_config(experiment, setting, task)
        for arm, config in protocol.model_configs(experiment, setting, task):
            if arm.model:  # fla's GatedMLP hidden size of the reference width, unrounded
                assert (config.block, config.mlp_hidden) == ("llama", reference.d_model * 8 // 3)
            else:  # the minimal arms stay in the experiment's block, as in the earlier runs
                assert (config.block, config.mlp_hidden) == ("classic", 0)


def test_arm_model_fields_are_the_block_only() -> None:
    assert Arm("x", "deltanet", model={"block": "llama", "mlp_hidden": 8}).model["mlp_hidden"] == 8
    with pytest.raises(ValueError, match="model fields must be among"):
        Arm("x", "deltanet", model={"d_model": 64})


def test_block_arm_is_matched_to_the_reference_in_its_block() -> None:
    experiment = next(e for e in SUITES["quick"] if e.name == "mqar")
    setting = experiment.settings[0]
    task = protocol.build_task(experiment, setting)
    reference = protocol.reference_config(experiment, setting, task)
    target = count_parameters(reference)
    arm = Arm("t", "transformer", model={"block": "llama"})
    config = protocol.arm_config(reference, arm)
    gap = abs(count_parameters(config) - target)
    for d_model in range(2, 4 * reference.d_model, 2):  # RoPE: even head sizes only
        other = dataclasses.replace(config, d_model=d_model)
        assert gap <= abs(count_parameters(other) - target), d_model


def test_measuring_suites_have_seeds_and_an_lr_search() -> None:
    assert [e.name for e in SUITES["quick"]] == [e.name for e in SUITES["full"]]
    assert [e.name for e in SUITES["smoke"]] == [e.name for e in SUITES["full"]]
    for experiment in (*SUITES["quick"], *SUITES["full"]):
        assert experiment.seeds >= 3 and len(experiment.lrs) >= 2, experiment.name


# --- lr selection on validation, seeds, splits -----------------------------------------------


class Oracle(nn.Module):
    """Answers a formal language exactly when ``good``, else says "nothing allowed"."""

    def __init__(self, language: str, good: bool) -> None:
        super().__init__()
        self.language, self.good = language, good

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        y = _targets(self.language, x)
        return (10 * (2 * y - 1) if self.good else -torch.ones_like(y)), None


def _formal_experiment(lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)) -> Experiment:
    quick = next(e for e in SUITES["smoke"] if e.name == "formal")
    return dataclasses.replace(quick, settings=quick.settings[:1], arms=quick.arms[:2], lrs=lrs,
                               claims=())  # fmt: skip


def test_lr_is_chosen_on_validation_and_seeds_rerun_at_it() -> None:
    experiment = _formal_experiment()
    calls = []

    def trainer(task, model_config, train_config):  # only lr 3e-3 "learns"
        calls.append((train_config.seed, train_config.lr, train_config.steps))
        return Oracle(task.language, good=train_config.lr == 3e-3)

    record = protocol.run_unit(experiment, 0, 1, seeds=3, trainer=trainer)
    steps = experiment.train["steps"]
    assert calls == [(0, 1e-3, steps), (0, 3e-3, steps), (0, 1e-2, steps), (1, 3e-3, steps),
                     (2, 3e-3, steps)]  # fmt: skip
    assert record["chosen_lr"] == 3e-3
    assert [r["val"]["sequence_accuracy"] for r in record["lr_search"]] == [0.0, 1.0, 0.0]
    assert [r["seed"] for r in record["runs"]] == [0, 1, 2]
    assert all(r["length"]["sequence_accuracy"] == 1.0 and r["success"] for r in record["runs"])
    assert record["reached"] == 3 and record["summary"]["test"]["mean"] == 1.0
    seeds = record["split_seeds"]
    assert len({*seeds.values()}) == 3 and min(seeds.values()) > protocol.MAX_TRAIN_SEEDS
    json.dumps(record)  # JSON-ready


def test_diverged_runs_are_recorded_not_chosen_nor_counted() -> None:
    experiment = _formal_experiment(lrs=(1e-2, 3e-3))

    def trainer(task, model_config, train_config):  # lr 1e-2 and seed 2 blow up
        if train_config.lr == 1e-2 or train_config.seed == 2:
            raise FloatingPointError(f"loss is nan at step 1 (seed {train_config.seed})")
        return Oracle(task.language, good=True)

    record = protocol.run_unit(experiment, 0, 0, seeds=3, trainer=trainer)
    assert record["chosen_lr"] == 3e-3 and record["lr_search"][0]["val"] is None
    assert [r["diverged"] is not None for r in record["runs"]] == [False, False, True]
    assert record["runs"][2]["test"] is None and record["runs"][2]["success"] is False
    assert record["reached"] == 2 and record["diverged"] == 1
    assert record["summary"]["test"]["n"] == 2
    json.dumps(record)


def test_select_lr_breaks_ties_by_loss_then_order() -> None:
    results = [(1e-3, {"accuracy": 1.0, "loss": 0.2}), (3e-3, {"accuracy": 1.0, "loss": 0.1}),
               (1e-2, {"accuracy": 1.0, "loss": 0.1})]  # fmt: skip
    assert protocol.select_lr(results, "accuracy") == 3e-3
    lower = [(1e-3, {"loss": 0.5}), (1e-2, {"loss": 0.4})]
    assert protocol.select_lr(lower, "loss") == 1e-2
    with pytest.raises(ValueError, match="no learning-rate"):
        protocol.select_lr([], "loss")


# --- verdicts ---------------------------------------------------------------------------------


def _row(arm: str, values: list[float], reached: int | None = None) -> dict:
    runs = [{"test": {"accuracy": v}, "success": v >= 0.99} for v in values]
    return {"setting": "s", "arm": arm, "runs": runs, "criterion": "test accuracy >= 0.99",
            "reached": sum(r["success"] for r in runs) if reached is None else reached}  # fmt: skip


def _toy(*claims: Claim) -> Experiment:
    return Experiment(
        name="toy", title="toy", source="-", finding="-", task="copy", settings=(Setting("s"),),
        arms=(Arm("a", "sum"), Arm("b", "delta")), model={}, train={"steps": 1}, lrs=(1e-3,),
        metric="accuracy", success=Criterion("accuracy", ">=", 0.99), claims=claims,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "a", "b", "expected"),
    [
        ("solves", [1.0, 1.0, 1.0], [0.0], "agrees"),
        ("solves", [1.0, 0.5, 1.0], [0.0], "partly"),
        ("fails", [1.0, 1.0, 1.0], [0.0], "disagrees"),
        ("better", [0.9, 0.92, 0.91], [0.5, 0.52, 0.51], "agrees"),
        ("better", [0.5, 0.52, 0.51], [0.9, 0.92, 0.91], "disagrees"),
        ("better", [0.5, 0.9, 0.7], [0.6, 0.8, 0.7], "inconclusive"),
        ("better", [0.9], [0.5], "inconclusive"),
        ("not_worse", [0.9, 0.91, 0.9], [0.9, 0.9, 0.91], "agrees"),
        ("not_worse", [0.5, 0.9, 0.7], [0.6, 0.8, 0.7], "inconclusive"),
        ("not_worse", [0.5, 0.52, 0.51], [0.9, 0.92, 0.91], "disagrees"),
    ],
)
def test_verdicts(kind: str, a: list[float], b: list[float], expected: str) -> None:
    claim = Claim("x", kind, ("a",) if kind in ("solves", "fails") else ("a", "b"), "s")
    rows = [_row("a", a), _row("b", b)]
    assert findings.verdict(claim, _toy(claim), rows, [])["verdict"] == expected


def test_report_only_decides_the_claims_again_from_the_recorded_rows(tmp_path: Path) -> None:
    experiment = _toy(Claim("a solves it", "solves", ("a",), "s"))
    rows = [{**_row(arm, values), "kind": "row", "wall_s": 1.0}
            for arm, values in (("a", [1.0, 1.0]), ("b", [0.0, 0.0]))]  # fmt: skip
    stale = {"kind": "claim", "verdict": "disagrees", "text": "a solves it", "setting": "s"}
    path = report.records_path(tmp_path, "quick", "toy")
    report.write_records(path, [{"kind": "run", "wall_s": 0}, *rows, stale])
    redecide("quick", (experiment,), tmp_path)
    claims = [r for r in report.read_records(path) if r["kind"] == "claim"]
    assert [c["verdict"] for c in claims] == ["agrees"]


def test_capacity_is_the_largest_solved_value_per_seed() -> None:
    experiment = next(e for e in SUITES["smoke"] if e.name == "capacity")  # S = 2, 4
    rows = []
    for setting in experiment.settings:
        for arm in experiment.arm_labels:
            solved = {"S=2": [True, False], "S=4": [arm != "sum (elu+1)", False]}[setting.label]
            rows.append({"setting": setting.label, "arm": arm,
                         "runs": [{"success": s} for s in solved]})  # fmt: skip
    caps = {c["arm"]: c for c in findings.capacities(experiment, rows)}
    assert caps["sum (elu+1)"]["per_seed"] == [2, 0] and caps["dpfp ν=3"]["per_seed"] == [4, 0]
    claim = experiment.claims[0]
    assert findings.verdict(claim, experiment, rows, list(caps.values()))["verdict"] == "agrees"


# --- the command line -----------------------------------------------------------------------


def test_unknown_experiment_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "efficacy", "--suite", "smoke", "--only", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fwp: error: --only: unknown experiment(s) ['nope']") and "\n" not in err
    assert main(["bench", "efficacy", "--suite", "nosuch"]) == 2
    assert "unknown suite 'nosuch'" in capsys.readouterr().err


def test_doc_markers_are_required(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n<!-- efficacy:smoke:start -->\nold\n<!-- efficacy:smoke:end -->\ntail\n")
    report.insert_into_doc(page, "smoke", "new ![f](smoke-x.png)\n", "../results")
    assert page.read_text() == (
        "# t\n<!-- efficacy:smoke:start -->\nnew ![f](../results/smoke-x.png)\n"
        "<!-- efficacy:smoke:end -->\ntail\n"
    )
    with pytest.raises(ValueError, match="markers"):
        report.insert_into_doc(page, "quick", "x")


# --- the smoke suite end to end ---------------------------------------------------------------


HAS_PLOTS = importlib.util.find_spec("matplotlib") is not None


def test_figures_without_matplotlib_fail_before_any_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(ImportError, match=r"fastweights\[plots\].*--no-figures"):
        run_suite("smoke", SUITES["smoke"], seeds=None, out=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(
    not HAS_PLOTS,
    reason="the smoke suite draws figures and renders the glyph set (fewshot) with matplotlib: "
    "pip install fastweights[plots]",
)
def test_smoke_suite_writes_every_record_and_the_markdown(tmp_path: Path) -> None:
    experiments = SUITES["smoke"]
    written = run_suite("smoke", experiments, seeds=None, out=tmp_path)
    assert {p.name for p in written} == {f"smoke-{e.name}.jsonl" for e in experiments}
    for experiment in experiments:
        records = report.read_records(tmp_path / f"smoke-{experiment.name}.jsonl")
        head = records[0]
        assert head["kind"] == "run" and head["machine"]["commit"] and head["machine"]["torch"]
        assert (tmp_path / f"smoke-{experiment.name}.png").stat().st_size > 0
        rows = [r for r in records if r["kind"] == "row"]
        assert [(r["setting"], r["arm"]) for r in rows] == [
            (s, a) for s in experiment.setting_labels for a in experiment.arm_labels
        ]
        for row in rows:
            assert row["matched"] and row["chosen_lr"] in experiment.lrs and row["seeds"] == 1
            assert {"mean", "std", "ci95", "n"} <= row["summary"]["test"].keys()
            assert ("length" in row["summary"]) == ("length" in experiment.splits)
            assert row["params"] > 0 and row["wall_s"] > 0 and len(row["runs"]) == 1
        claims = [r for r in records if r["kind"] == "claim"]
        assert len(claims) == len(experiment.claims)
        assert all(c["verdict"] in ("agrees", "disagrees", "partly", "inconclusive")
                   for c in claims)  # fmt: skip
    markdown, missing = report.suite_markdown("smoke", SUITES["smoke"], tmp_path)
    assert (
        missing == [] and "| experiment | finding (paper) | observed (ours) | verdict |" in markdown
    )
    assert "![capacity](smoke-capacity.png)" in markdown
    assert "| `deltanet` (llama block) |" in markdown and "| `delta (minimal)` |" in markdown
    mqar = next(e for e in experiments if e.name == "mqar")
    assert mqar.note in markdown


@pytest.mark.slow
def test_worker_processes_give_the_same_numbers(tmp_path: Path) -> None:
    editing = next(e for e in SUITES["smoke"] if e.name == "editing")
    runs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        run_suite("smoke", (editing,), seeds=2, out=out, jobs=jobs, figures=False)
        rows = [r for r in report.read_records(out / "smoke-editing.jsonl") if r["kind"] == "row"]
        assert rows[0]["seeds"] == 2 and len(rows[0]["runs"]) == 2
        runs.append([(run["val"], run["test"]) for row in rows for run in row["runs"]])
    assert runs[0] == runs[1]
