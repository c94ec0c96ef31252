"""One figure per experiment, drawn from its recorded rows (matplotlib: the ``plots`` extra).

- An experiment without a sweep: one panel (row) per reported split (test, and length generalisation
  where the task has it); per setting a group of bars, one per arm, at the mean over seeds with
  the 95 % interval as error bar and each seed as a dot (an episodic task's early-episode error
  as a dashed outline behind each bar).
- A capacity sweep: the test metric against the swept field per arm (mean line, seed dots, the
  success threshold dashed), and the capacities per arm beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastweights.analysis.plots_base import new_figure  # an Agg canvas, no pyplot state

Record = Mapping[str, Any]


def _error(summary: Mapping[str, Any]) -> tuple[float, float]:
    ci = summary["ci95"]
    if ci is None:
        return 0.0, 0.0
    return summary["mean"] - ci[0], ci[1] - summary["mean"]


def _bars(ax: Any, rows: Sequence[Record], split: str, metric: str) -> None:
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    arms = list(dict.fromkeys(row["arm"] for row in rows))
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        for i, setting in enumerate(settings):
            row = next((r for r in rows if r["setting"] == setting and r["arm"] == arm), None)
            if row is None or not row["summary"].get(split):
                continue
            x = i - 0.4 + width * (j + 0.5)
            summary = row["summary"][split]
            early = row["summary"].get("test_early") if split == "test" else None
            if early:  # an episodic task: the early-episode error as an outline behind
                ax.bar(x, early["mean"], width, fill=False, edgecolor=f"C{j}", linestyle="--",
                       label="early episode (outline)" if i == 0 and j == 0 else None)  # fmt: skip
            low, high = _error(summary)
            ax.bar(x, summary["mean"], width, color=f"C{j}", label=arm if i == 0 else None,
                   yerr=[[low], [high]], capsize=2)  # fmt: skip
            seeds = [run[split][metric] for run in row["runs"] if run[split] is not None]
            ax.plot([x] * len(seeds), seeds, "k.", markersize=3)
    ax.set_xticks(range(len(settings)), settings, rotation=20 if len(settings) > 3 else 0)
    if metric.endswith("accuracy"):
        ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"{'length-generalisation' if split == 'length' else 'test'} {metric}")


def _sweep(axes: Any, rows: Sequence[Record], caps: Sequence[Record], field: str,
           metric: str, threshold: float | None) -> None:  # fmt: skip
    ax, cap_ax = axes
    arms = list(dict.fromkeys(row["arm"] for row in rows))
    for j, arm in enumerate(arms):
        mine = sorted((r for r in rows if r["arm"] == arm and r["summary"]["test"]),
                      key=lambda r: r["task"][field])  # fmt: skip
        xs = [r["task"][field] for r in mine]
        ax.plot(xs, [r["summary"]["test"]["mean"] for r in mine], "-o", color=f"C{j}", label=arm)
        for x, r in zip(xs, mine, strict=True):
            seeds = [run["test"][metric] for run in r["runs"] if run["test"] is not None]
            ax.plot([x] * len(seeds), seeds, ".", color=f"C{j}", markersize=3)
    if threshold is not None:
        ax.axhline(threshold, color="k", linestyle="--", linewidth=0.8)
    ax.set_xscale("log", base=2)
    values = sorted({row["task"][field] for row in rows})
    ax.set_xticks(values, [str(v) for v in values])
    ax.set_xlabel(field)
    ax.set_ylabel(f"test {metric}")
    ax.legend(fontsize=7)
    for j, cap in enumerate(caps):
        summary = cap["summary"]
        low, high = _error(summary)
        cap_ax.bar(j, summary["mean"], color=f"C{j}", yerr=[[low], [high]], capsize=3)
        cap_ax.plot([j] * len(cap["per_seed"]), cap["per_seed"], "k.", markersize=4)
    cap_ax.set_xticks(range(len(caps)), [cap["arm"] for cap in caps], rotation=20)
    cap_ax.set_ylabel(f"capacity (largest {field} solved)")


def plot_experiment(records: Sequence[Record], path: Path) -> Path:
    """Draw the figure of one experiment's records into ``path`` (PNG); return the path."""
    run = next(record for record in records if record["kind"] == "run")
    rows = [record for record in records if record["kind"] == "row"]
    caps = [record for record in records if record["kind"] == "capacity"]
    if not rows:
        raise ValueError(f"no rows to plot for experiment {run['experiment']!r}")
    metric = run["definition"]["metric"]
    success = run["definition"]["success"]
    threshold = success["threshold"] if success and success["metric"] == metric else None
    if caps:
        fig = new_figure(10, 3.8)
        axes = fig.subplots(1, 2)
        _sweep(axes, rows, caps, caps[0]["field"], metric, threshold)
    else:
        splits = [s for s in ("test", "length") if any(s in r["summary"] for r in rows)]
        n_settings = len({row["setting"] for row in rows})
        width = min(14.0, 4.0 + 1.8 * n_settings)
        fig = new_figure(width, 3.2 * len(splits) + 0.6)
        axes = fig.subplots(len(splits), 1, squeeze=False)
        for ax, split in zip(axes[:, 0], splits, strict=True):
            _bars(ax, rows, split, metric)
        axes[0][0].legend(fontsize=7, ncol=4)
    seeds = f"{run['seeds']} seed{'s' if run['seeds'] != 1 else ''}"
    fig.suptitle(f"{run['suite']}: {run['definition']['title']} ({seeds}; bars: mean, 95 % CI; "
                 "dots: seeds)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
