"""The vocabulary of the efficacy suites: arms, settings, success criteria, claims, experiments.

An **experiment** is one task family, a list of **settings** (task fields, e.g. the language or
the number of stored pairs, and model overrides, e.g. the width) and a list of **arms** (a mixer
with its options), trained under one budget: the same steps, batch, learning-rate grid and
seeds for every arm, with sizes matched to the reference arm (``matched_config``). A **claim**
is a published finding stated so that the recorded numbers decide it (``findings.py``).

Everything here is plain frozen data, checked on construction, so a suite is a table to read
(``experiments.py``) and a worker process can receive it by pickling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# metric -> whether higher is better (what ``evaluation.evaluate_split`` reports)
METRICS: dict[str, bool] = {
    "accuracy": True,  # per scored position
    "sequence_accuracy": True,  # a sequence counts when all its scored positions are right
    "loss": False,  # the task's training loss (retrieval: the paper's ½‖ŷ − y‖² per query)
    "bits_per_char": False,  # cross-entropy / ln 2 (class targets)
    # within-episode error of an episodic task (one with a ``scored`` field: meta_learning)
    "early_loss": False,  # the loss on the first third of every episode
    "late_loss": False,  # the loss on the last third of the same episodes
}
SPLITS = ("val", "test", "length")
CLAIM_KINDS = ("solves", "fails", "better", "not_worse", "increasing", "learns")
# the ModelConfig fields an arm may set for itself: its block, never the sizes being matched
ARM_MODEL_FIELDS = ("block", "mlp_hidden", "norm_eps")
# how a split's task derives from the training task: field overrides, or the task's test_split()
TEST_SPLIT = "test_split"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class Arm:
    """One mixer of ``fastweights.nn.MIXERS`` with options; ``label`` names it in tables.

    ``model``: ``ModelConfig`` fields of this arm's blocks on top of the experiment's (only
    ``block``, ``mlp_hidden``, ``norm_eps``: e.g. a published layer in fla's ``block="llama"``);
    its size is still matched to the reference arm (``protocol.arm_config``).
    """

    label: str
    mixer: str
    options: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.model) - set(ARM_MODEL_FIELDS))
        _check(not unknown, f"arm {self.label!r}: model fields must be among "
               f"{list(ARM_MODEL_FIELDS)}, got {unknown}")  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """Task fields and ``ModelConfig`` overrides of one row group (e.g. one language, width)."""

    label: str
    task: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Criterion:
    """Success of one run: ``metric`` on ``split`` is ``>=`` (or ``<=``) ``threshold``."""

    metric: str
    op: str
    threshold: float
    split: str = "test"

    def __post_init__(self) -> None:
        _check(self.metric in METRICS, f"criterion metric must be one of {list(METRICS)}, "
               f"got {self.metric!r}")  # fmt: skip
        _check(self.op in (">=", "<="), f"criterion op must be '>=' or '<=', got {self.op!r}")
        _check(self.split in SPLITS[1:], f"criterion split must be test or length, got "
               f"{self.split!r}")  # fmt: skip

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def describe(self) -> str:
        return f"{self.split} {self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Claim:
    """A published finding, decided by the recorded numbers (``findings.py``).

    - ``solves`` / ``fails``: the arm ``arms[0]`` in ``setting`` reaches / misses the success
      criterion (all seeds: agrees; none: disagrees; some: partly);
    - ``better`` / ``not_worse``: ``arms[0]``'s main metric on ``split`` beats / is not worse than
      ``arms[1]``'s, judged by the 95 % interval of the difference of means;
    - ``increasing``: the capacity (largest solved setting) grows along ``arms``;
    - ``learns``: ``arms[0]`` learns within the episode: its ``late_loss`` on ``split`` is below
      its ``early_loss``, judged by the 95 % interval of the per-seed differences.
    """

    text: str
    kind: str
    arms: tuple[str, ...]
    setting: str | None = None
    split: str = "test"

    def __post_init__(self) -> None:
        _check(self.kind in CLAIM_KINDS, f"claim kind must be one of {CLAIM_KINDS}, got "
               f"{self.kind!r}")  # fmt: skip
        wanted = {"solves": 1, "fails": 1, "better": 2, "not_worse": 2, "learns": 1}.get(self.kind)
        if wanted is not None:
            _check(len(self.arms) == wanted, f"a {self.kind!r} claim names {wanted} arm(s), "
                   f"got {self.arms}")  # fmt: skip
        else:
            _check(len(self.arms) >= 2, f"an 'increasing' claim names >= 2 arms, got {self.arms}")
        _check(self.split in SPLITS[1:], f"claim split must be test or length, got {self.split!r}")


@dataclass(frozen=True)
class Experiment:
    """One task family under one budget; see the module docstring.

    ``model``: ``ModelConfig`` fields shared by all settings (the task supplies its sizes);
    ``train``: ``TrainConfig`` fields other than ``lr`` and ``seed``; ``lrs``: the grid every
    arm searches on the validation split; ``splits``: how the val/test/length tasks derive from
    the training task (field overrides, or ``"test_split"``); ``sweep``: the task field whose
    largest solved value is the arm's capacity (the capacity experiment), else None.
    """

    name: str
    title: str
    source: str
    finding: str
    task: str
    settings: tuple[Setting, ...]
    arms: tuple[Arm, ...]
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    lrs: tuple[float, ...]
    metric: str
    success: Criterion | None = None
    splits: Mapping[str, Any] = field(default_factory=lambda: {"val": {}, "test": {}})
    eval_batches: int = 4
    eval_batch_size: int = 64
    sweep: str | None = None
    claims: tuple[Claim, ...] = ()
    seeds: int = 3
    note: str = ""

    def __post_init__(self) -> None:
        _check(self.metric in METRICS, f"{self.name}: metric must be one of {list(METRICS)}, "
               f"got {self.metric!r}")  # fmt: skip
        _check(bool(self.settings) and bool(self.arms), f"{self.name}: no settings or no arms")
        _check(bool(self.lrs) and all(lr > 0 for lr in self.lrs), f"{self.name}: bad lrs "
               f"{self.lrs}")  # fmt: skip
        _check(self.seeds >= 1, f"{self.name}: seeds must be >= 1, got {self.seeds}")
        for kind, names in (("arm", self.arm_labels), ("setting", self.setting_labels)):
            _check(len(set(names)) == len(names), f"{self.name}: duplicate {kind} labels {names}")
        _check(set(self.splits) >= {"val", "test"} and set(self.splits) <= set(SPLITS),
               f"{self.name}: splits must give val and test (and may give length), got "
               f"{sorted(self.splits)}")  # fmt: skip
        for split, how in self.splits.items():
            _check(
                how == TEST_SPLIT or isinstance(how, Mapping),
                f"{self.name}: split {split!r} must be field overrides or {TEST_SPLIT!r}",
            )
        if self.success is not None and self.success.split == "length":
            _check("length" in self.splits, f"{self.name}: success on length needs that split")
        if self.sweep is not None:
            _check(self.success is not None, f"{self.name}: a capacity sweep needs a criterion")
            for setting in self.settings:
                _check(self.sweep in setting.task, f"{self.name}: setting {setting.label!r} "
                       f"does not set the swept field {self.sweep!r}")  # fmt: skip
        for claim in self.claims:
            unknown = [arm for arm in claim.arms if arm not in self.arm_labels]
            _check(not unknown, f"{self.name}: claim {claim.text!r} names unknown arms {unknown}")
            if claim.kind == "increasing":
                _check(self.sweep is not None, f"{self.name}: 'increasing' needs a sweep")
            else:
                _check(claim.setting in self.setting_labels, f"{self.name}: claim "
                       f"{claim.text!r} names unknown setting {claim.setting!r}")  # fmt: skip
            if claim.kind in ("solves", "fails"):
                _check(self.success is not None, f"{self.name}: {claim.kind} needs a criterion")
            if claim.split == "length":
                _check("length" in self.splits, f"{self.name}: claim on length needs the split")

    @property
    def arm_labels(self) -> list[str]:
        return [arm.label for arm in self.arms]

    @property
    def setting_labels(self) -> list[str]:
        return [setting.label for setting in self.settings]

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]

    def runs_per_unit(self, seeds: int | None = None) -> int:
        """Training runs of one (setting, arm): every lr on seed 0, then the other seeds."""
        return len(self.lrs) + (self.seeds if seeds is None else seeds) - 1
