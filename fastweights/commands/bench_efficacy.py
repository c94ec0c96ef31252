"""``fwp bench efficacy``: run an efficacy suite and write its records, Markdown and figures.

    fwp bench efficacy [--suite smoke|quick|full] [--seeds N] [--only EXPERIMENT[,...]]
                       [--jobs N] [--out DIR] [--docs PAGE] [--report-only] [--estimate]

Per experiment: ``<out>/<suite>-<experiment>.jsonl`` and ``.png``; then ``<out>/<suite>.md``
from every recorded experiment of the suite, copied into ``--docs PAGE`` between its markers.
``--report-only`` rebuilds the Markdown (and page) from the records without training, deciding
the claims again from the recorded rows;
``--estimate`` times a few training steps of every (setting, arm) and predicts the run time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from fastweights.bench.efficacy.experiments import SUITES
from fastweights.bench.efficacy.findings import describe
from fastweights.bench.efficacy.report import insert_into_doc, suite_markdown
from fastweights.bench.efficacy.spec import Experiment

DEFAULT_OUT = Path("benchmarks") / "efficacy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--suite", default="quick", help=f"one of {', '.join(SUITES)} (default quick)")
    add("--seeds", type=int, help="training seeds per arm (default: the suite's, 3 for quick)")
    add("--only", help="comma list of experiments to run (default: all of the suite)")
    add("--jobs", type=int, default=1, help="worker processes (default 1; 2 on a 2-core CPU)")
    add("--threads", type=int, help="torch threads per process (default 1)")
    add("--out", default=str(DEFAULT_OUT), help=f"results folder (default {DEFAULT_OUT})")
    add("--docs", help="also copy the suite's Markdown into this page, between its markers")
    add("--no-figures", action="store_true", help="skip the figures (no matplotlib needed)")
    add("--report-only", action="store_true", help="rebuild the Markdown from the records")
    add("--estimate", action="store_true", help="predict the run time from a few timed steps")


def select(suite: str, only: str | None) -> tuple[Experiment, ...]:
    """The suite's experiments, or those named by ``only`` (in suite order)."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known suites: {', '.join(SUITES)}")
    experiments = SUITES[suite]
    if only is None:
        return experiments
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = [e.name for e in experiments]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(
            f"--only: unknown experiment(s) {unknown or [only]}; the {suite} suite has: "
            f"{', '.join(known)}"
        )
    return tuple(e for e in experiments if e.name in names)


def _print_event(event: dict[str, Any]) -> None:
    if event["event"] == "experiment":
        print(f"{event['experiment']}: written {event['path']}", flush=True)
    else:
        row = event["record"]
        test = describe(row["summary"]["test"])
        length = f"  length {describe(row['summary']['length'])}" if "length" in row[
            "summary"] else ""  # fmt: skip
        reached = "" if row["reached"] is None else f"  success {row['reached']}/{row['seeds']}"
        print(
            f"[{event['elapsed_s'] / 60:5.1f} min] {row['experiment']:<9} {row['setting']:<15} "
            f"{row['arm']:<12} params {row['params']:>7,} ({row['params_ratio']:.2f})  "
            f"lr {row['chosen_lr']:g}  test {row['metric']} {test}{length}{reached}  "
            f"{row['wall_s']:.0f} s",
            flush=True,
        )


def _report(args: argparse.Namespace, out: Path) -> None:
    markdown, missing = suite_markdown(args.suite, SUITES[args.suite], out)
    path = out / f"{args.suite}.md"
    path.write_text(markdown, encoding="utf-8")
    print(f"wrote {path}" + (f" (not recorded yet: {', '.join(missing)})" if missing else ""))
    if args.docs:
        page = Path(args.docs)
        insert_into_doc(page, args.suite, markdown, os.path.relpath(out, page.parent))
        print(f"updated {page}")


def run(args: argparse.Namespace) -> int:
    experiments = select(args.suite, args.only)
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise ValueError(f"--jobs and --threads must be >= 1, got {args.jobs}, {args.threads}")
    out = Path(args.out)
    if args.estimate:
        from fastweights.bench.efficacy.estimate import estimate_suite

        for line in estimate_suite(experiments, args.seeds, args.jobs, args.threads):
            print(line, flush=True)
        return 0
    if args.report_only:
        from fastweights.bench.efficacy.runner import redecide

        redecide(args.suite, experiments, out)
    else:
        from fastweights.bench.efficacy.runner import run_suite

        start = time.perf_counter()
        run_suite(args.suite, experiments, seeds=args.seeds, out=out, jobs=args.jobs,
                  threads=args.threads, figures=not args.no_figures, log=_print_event)  # fmt: skip
        print(f"suite {args.suite}: {(time.perf_counter() - start) / 60:.1f} min wall time")
    _report(args, out)
    return 0
