"""What the recorded rows say: capacities of a sweep, and a verdict on each published claim.

**Capacity** (Schlag et al. 2021, arXiv:2102.11174, §6.1): per arm and training seed, the
largest value of the swept task field (the number of stored pairs ``S``) whose run met the
success criterion; 0 when none did. Its mean, std and 95 % interval are over seeds.

**Verdicts** (``spec.Claim``), from the recorded numbers only:

- ``solves`` / ``fails``: all seeds met (missed) the criterion: agrees; none: disagrees; else
  partly;
- ``better`` / ``not_worse``: the 95 % interval of the difference of the two arms' means
  (``stats.difference``, sign turned so that > 0 favours the first arm): ``better`` agrees when it
  lies above 0 and disagrees when below, else inconclusive; ``not_worse`` agrees when it lies
  above ``−NOT_WORSE_MARGIN`` (at most that much worse, with 95 % confidence), disagrees when it
  lies below 0, else inconclusive (two arms stuck at chance agree only if their seeds agree
  closely); with one seed there is no interval: inconclusive;
- ``increasing``: capacity means that never drop along the arms and end higher than they start:
  agrees; all equal: inconclusive; any drop: disagrees;
- ``learns``: per seed, the arm's ``early_loss − late_loss`` on the claim's split (the fall of the
  within-episode error); the 95 % interval of their mean above 0: agrees, below 0: disagrees,
  else (or with one seed) inconclusive.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from fastweights.bench.efficacy.spec import Claim, Experiment
from fastweights.bench.efficacy.stats import difference, summarize

Record = Mapping[str, Any]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def describe(summary: Mapping[str, Any] | None) -> str:
    """``mean ± std`` of a summary dict (``Summary.as_dict``), the mean alone for one seed."""
    if summary is None:
        return "diverged"
    if summary["std"] is None:
        return _fmt(summary["mean"])
    return f"{_fmt(summary['mean'])} ± {_fmt(summary['std'])}"


def capacities(experiment: Experiment, rows: Sequence[Record]) -> list[dict[str, Any]]:
    """One record per arm: the largest solved sweep value per seed, and their summary."""
    if experiment.sweep is None:
        return []
    by_key = {(row["setting"], row["arm"]): row for row in rows}
    out = []
    for arm in experiment.arm_labels:
        swept = [
            (setting.task[experiment.sweep], by_key[(setting.label, arm)])
            for setting in experiment.settings
            if (setting.label, arm) in by_key
        ]
        if not swept:
            continue
        n = min(len(row["runs"]) for _, row in swept)
        per_seed = [
            max((value for value, row in swept if row["runs"][i]["success"]), default=0)
            for i in range(n)
        ]
        out.append({
            "kind": "capacity", "experiment": experiment.name, "arm": arm,
            "field": experiment.sweep, "swept": [value for value, _ in swept],
            "per_seed": per_seed, "summary": summarize(per_seed).as_dict(),
        })  # fmt: skip
    return out


NOT_WORSE_MARGIN = 0.05  # in the units of the compared metric (accuracy)


def _values(row: Record, split: str, metric: str) -> list[float]:
    """The metric of every run that did not diverge."""
    return [float(run[split][metric]) for run in row["runs"] if run[split] is not None]


def _compare(claim: Claim, a: list[float], b: list[float], higher: bool) -> tuple[str, str]:
    if not a or not b:
        return "inconclusive", "every run of an arm diverged"
    sign = 1.0 if higher else -1.0
    means = f"{claim.arms[0]} {_fmt(sum(a) / len(a))} vs {claim.arms[1]} {_fmt(sum(b) / len(b))}"
    interval = difference(a, b)
    if interval is None:
        return "inconclusive", f"{means} (one seed: no interval)"
    _, lo, hi = (sign * value for value in interval)
    lo, hi = min(lo, hi), max(lo, hi)
    text = f"{means}; advantage 95 % CI [{_fmt(lo)}, {_fmt(hi)}]"
    if claim.kind == "better":
        verdict = "agrees" if lo > 0 else "disagrees" if hi < 0 else "inconclusive"
    else:
        verdict = "agrees" if lo > -NOT_WORSE_MARGIN else "disagrees" if hi < 0 else "inconclusive"
    return verdict, text


def _learns(claim: Claim, row: Record) -> tuple[str, str]:
    runs = [run[claim.split] for run in row["runs"] if run[claim.split] is not None]
    if not runs or any(run.get("early_loss") is None for run in runs):
        return "inconclusive", "no early/late losses recorded (not an episodic task, or diverged)"
    early = [float(run["early_loss"]) for run in runs]
    late = [float(run["late_loss"]) for run in runs]
    gains = summarize([e - la for e, la in zip(early, late, strict=True)])
    text = (
        f"{claim.arms[0]}: early {_fmt(sum(early) / len(early))} → late "
        f"{_fmt(sum(late) / len(late))}"
    )
    if gains.ci95 is None:
        return "inconclusive", f"{text} (one seed: no interval)"
    lo, hi = gains.ci95
    text += f"; fall 95 % CI [{_fmt(lo)}, {_fmt(hi)}]"
    return ("agrees" if lo > 0 else "disagrees" if hi < 0 else "inconclusive"), text


def verdict(
    claim: Claim, experiment: Experiment, rows: Sequence[Record], caps: Sequence[Record]
) -> dict[str, Any]:
    """The claim's record: what was observed and whether it agrees with the paper."""
    by_key = {(row["setting"], row["arm"]): row for row in rows}
    result: str
    if claim.kind == "increasing":
        by_arm = {cap["arm"]: cap for cap in caps}
        missing = [arm for arm in claim.arms if arm not in by_arm]
        if missing:
            result, observed = "not run", f"no capacity for {missing}"
        else:
            means = [by_arm[arm]["summary"]["mean"] for arm in claim.arms]
            observed = ", ".join(f"{arm} {describe(by_arm[arm]['summary'])}" for arm in claim.arms)
            steps = [b - a for a, b in itertools.pairwise(means)]
            if all(step == 0 for step in steps):
                result = "inconclusive"
            elif all(step >= 0 for step in steps):
                result = "agrees"
            else:
                result = "disagrees"
    else:
        keys = [(claim.setting, arm) for arm in claim.arms]
        missing = [key for key in keys if key not in by_key]
        if missing:
            result, observed = "not run", f"no rows for {missing}"
        elif claim.kind == "learns":
            result, observed = _learns(claim, by_key[keys[0]])
        elif claim.kind in ("solves", "fails"):
            row = by_key[keys[0]]
            reached, n = row["reached"], len(row["runs"])
            good = reached == n if claim.kind == "solves" else reached == 0
            bad = reached == 0 if claim.kind == "solves" else reached == n
            result = "agrees" if good else "disagrees" if bad else "partly"
            observed = f"{claim.arms[0]}: {reached}/{n} seeds reach {row['criterion']}"
        else:
            a = _values(by_key[keys[0]], claim.split, experiment.metric)
            b = _values(by_key[keys[1]], claim.split, experiment.metric)
            result, observed = _compare(claim, a, b, experiment.higher_is_better)
    return {
        "kind": "claim", "experiment": experiment.name, "text": claim.text,
        "claim_kind": claim.kind, "arms": list(claim.arms), "setting": claim.setting,
        "split": claim.split, "verdict": result, "observed": observed,
    }  # fmt: skip
