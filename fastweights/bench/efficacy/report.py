"""The recorded results: JSON lines per experiment, the suite's Markdown, the docs' copy of it.

``<out>/<suite>-<experiment>.jsonl`` holds one experiment's latest run: a ``run`` record (suite,
run id, time, machine, versions, threads, commit, the experiment's definition), then one ``row``
per (setting, arm), one ``capacity`` per arm of a sweep, one ``claim`` per published finding. The
Markdown
``<out>/<suite>.md`` is built from those files only, so every number in it was recorded;
``insert_into_doc`` copies it into a page between ``<!-- efficacy:<suite>:start -->`` and
``<!-- efficacy:<suite>:end -->``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastweights.bench.efficacy.findings import describe
from fastweights.bench.efficacy.spec import Experiment

Record = Mapping[str, Any]


def records_path(out: Path, suite: str, experiment: str) -> Path:
    return out / f"{suite}-{experiment}.jsonl"


def write_records(path: Path, records: Sequence[Record]) -> None:
    """Write ``records`` as JSON lines (replacing the file: one file is one run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(record, default=str) + "\n" for record in records))
    tmp.replace(path)


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"no recorded results at {path}")
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON lines: {error}") from None


def _of(records: Sequence[Record], kind: str) -> list[Record]:
    return [record for record in records if record["kind"] == kind]


def _ci(summary: Mapping[str, Any] | None) -> str:
    ci = None if summary is None else summary["ci95"]
    return "–" if ci is None else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _machine_line(run: Record) -> str:
    m = run["machine"]
    return (
        f"Recorded {run['timestamp']} (run `{run['run_id']}`, {run['wall_s'] / 60:.1f} "
        "worker-min): "
        f"{m['device_name']}, torch {m['torch']}, {run['threads']} torch thread(s) × "
        f"{run['jobs']} job(s), commit `{m['commit']}`, python {m['python']}."
    )


def _budget_line(run: Record) -> str:
    e = run["definition"]
    train = e["train"]
    lrs = ", ".join(f"{lr:g}" for lr in e["lrs"])
    return (
        f"Budget per arm: {train['steps']} steps × batch {train['batch_size']}; lr ∈ {{{lrs}}} "
        f"chosen on validation (seed 0), {run['seeds']} seed(s) at that lr; evaluation on "
        f"{e['eval_batches']} × {e['eval_batch_size']} sequences per split. Metric: "
        f"`{e['metric']}` ({'higher' if e['higher_is_better'] else 'lower'} is better)"
        + (f"; success: {run['criterion']}." if run.get("criterion") else ".")
    )


def _arm_cell(row: Record) -> str:
    """The arm's label, and its block where that is not the classic one (records made before
    ``ModelConfig.block`` existed have none: classic)."""
    block = row.get("model", {}).get("block", "classic")
    return f"`{row['arm']}`" + ("" if block == "classic" else f" ({block} block)")


def _row_line(row: Record, has_length: bool, has_early: bool = False) -> str:
    summary = row["summary"]
    cells = [
        row["setting"],
        _arm_cell(row),
        f"{row['params']:,} ({row['params_ratio']:.2f}{'' if row['matched'] else ' ⚠'})",
        f"{row['chosen_lr']:g}",
    ]
    if has_early:
        cells += [describe(summary.get("test_early"))]
    cells += [describe(summary["test"]), _ci(summary["test"])]
    if has_length:
        cells += [describe(summary["length"]), _ci(summary["length"])]
    reached = "–" if row["reached"] is None else f"{row['reached']}/{len(row['runs'])}"
    if row.get("diverged"):
        reached += f" ({row['diverged']} diverged)"
    cells += [reached, f"{row['wall_s']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def experiment_markdown(records: Sequence[Record], suite: str) -> list[str]:
    """The section of one experiment: what ran, its table, capacities, claims, figure."""
    run = _of(records, "run")[0]
    lines = [f"### `{run['experiment']}`: {run['definition']['title']}", ""]
    lines += [f"{run['definition']['source']}. {_budget_line(run)}", ""]
    if run["definition"].get("note"):
        lines += [run["definition"]["note"], ""]
    lines += [_machine_line(run), ""]
    rows = _of(records, "row")
    has_length = any("length" in row["summary"] for row in rows)
    has_early = any("test_early" in row["summary"] for row in rows)
    metric = run["definition"]["metric"]
    head = ["setting", "arm", "params (ratio)", "lr"]
    head += ["test early_loss"] if has_early else []
    head += [f"test {metric}", "95 % CI"]
    if has_length:
        head += [f"length-gen. {metric}", "95 % CI"]
    head += ["success", "time (s)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [_row_line(row, has_length, has_early) for row in rows]
    caps = _of(records, "capacity")
    if caps:
        field = caps[0]["field"]
        lines += ["", f"Capacity (largest `{field}` meeting the criterion, per seed):", "",
                  "| arm | per seed | mean ± std | 95 % CI |", "|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| `{c['arm']}` | {', '.join(str(v) for v in c['per_seed'])} | "
            f"{describe(c['summary'])} | {_ci(c['summary'])} |"
            for c in caps
        ]
    lines += ["", "Params: count, and ratio to the first arm (⚠ outside ±10 %). Time: wall "
              "seconds of all of the arm's runs (lr search included)."]  # fmt: skip
    figure = f"{suite}-{run['experiment']}.png"
    if run.get("figure"):
        lines += ["", f"![{run['experiment']}]({figure})"]
    return [*lines, ""]


def summary_markdown(all_records: Sequence[Sequence[Record]]) -> list[str]:
    """The table of every claim: the paper's finding, what we observed, the verdict."""
    lines = ["| experiment | finding (paper) | observed (ours) | verdict |", "|---|---|---|---|"]
    for records in all_records:
        run = _of(records, "run")[0]
        for claim in _of(records, "claim"):
            setting = f" ({claim['setting']})" if claim["setting"] else ""
            lines.append(f"| `{run['experiment']}`{setting} | {claim['text']} | "
                         f"{claim['observed']} | **{claim['verdict']}** |")  # fmt: skip
    return lines


def suite_markdown(
    suite: str, experiments: Sequence[Experiment], out: Path
) -> tuple[str, list[str]]:
    """The suite's Markdown from the recorded files of ``experiments`` present in ``out``."""
    present, missing = [], []
    for experiment in experiments:
        path = records_path(out, suite, experiment.name)
        (present if path.is_file() else missing).append(experiment.name)
    if not present:
        raise FileNotFoundError(f"no recorded results of suite {suite!r} in {out}")
    all_records = [read_records(records_path(out, suite, name)) for name in present]
    lines = [
        f"Generated by `fwp bench efficacy --suite {suite}` from the JSON lines "
        f"`{suite}-<experiment>.jsonl`; do not edit by hand.",
        "",
        "#### Summary: the papers' findings against our runs",
        "",
        *summary_markdown(all_records),
        "",
    ]
    if missing:
        lines += [f"Not recorded yet: {', '.join(f'`{name}`' for name in missing)}.", ""]
    for records in all_records:
        lines += experiment_markdown(records, suite)
    return "\n".join(lines).rstrip() + "\n", missing


def markers(suite: str) -> tuple[str, str]:
    return f"<!-- efficacy:{suite}:start -->", f"<!-- efficacy:{suite}:end -->"


def insert_into_doc(doc: Path, suite: str, markdown: str, figure_dir: str | None = None) -> None:
    """Replace what lies between the suite's markers in ``doc`` by ``markdown``.

    ``figure_dir``: a prefix for the figure links (the page's path to the results folder).
    """
    if not doc.is_file():
        raise FileNotFoundError(f"no page at {doc}")
    text = doc.read_text(encoding="utf-8")
    start, end = markers(suite)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{doc} must contain the markers {start} ... {end} once, in order")
    if figure_dir:
        markdown = markdown.replace(f"]({suite}-", f"]({figure_dir.rstrip('/')}/{suite}-")
    before, rest = text.split(start)
    _, after = rest.split(end)
    doc.write_text(f"{before}{start}\n{markdown}{end}{after}", encoding="utf-8")
