"""Runs a suite: every (experiment, setting, arm) unit, in this process or in worker processes.

A unit is independent of every other (``protocol.run_unit``: its own lr search and seeds), so
units run in any order and the results do not depend on it, nor on ``jobs``: with ``jobs > 1``
a ``spawn`` pool of ``jobs`` processes takes the units in suite order. Every process runs torch
with ``threads`` threads (default 1, whatever ``jobs``: the thread count can change the order of
floating-point sums, so keeping it fixed keeps the numbers the same for any ``jobs``).
An experiment's records are written (``report.write_records``) as soon as its last unit is in,
sorted as the suite lists its settings and arms; its figure follows.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from fastweights.bench.efficacy.findings import capacities, verdict
from fastweights.bench.efficacy.protocol import run_unit
from fastweights.bench.efficacy.report import read_records, records_path, write_records
from fastweights.bench.efficacy.spec import Experiment
from fastweights.bench.measure import machine_info
from fastweights.bench.runner import utc_now

Unit = tuple[int, int, int]  # (experiment index, setting index, arm index)
Log = Callable[[dict[str, Any]], None]


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _run(args: tuple[Experiment, int, int, int, int]) -> tuple[int, int, int, dict[str, Any]]:
    experiment, e, s, a, seeds = args
    return e, s, a, run_unit(experiment, s, a, seeds)


def _results(
    work: list[tuple[Experiment, int, int, int, int]], jobs: int, threads: int
) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    if jobs == 1:
        yield from map(_run, work)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding OpenMP threads
    with context.Pool(jobs, initializer=_set_threads, initargs=(threads,)) as pool:
        yield from pool.imap_unordered(_run, work)


def run_record(
    experiment: Experiment, suite: str, seeds: int, jobs: int, threads: int, info: dict
) -> dict[str, Any]:
    definition = dataclasses.asdict(experiment) | {"higher_is_better": experiment.higher_is_better}
    return {
        "kind": "run", "suite": suite, "experiment": experiment.name,
        "run_id": uuid.uuid4().hex[:12], "timestamp": utc_now(), "machine": info,
        "seeds": seeds, "jobs": jobs, "threads": threads, "definition": definition,
        "criterion": None if experiment.success is None else experiment.success.describe(),
    }  # fmt: skip


def finish(experiment: Experiment, head: dict[str, Any], rows: list[dict]) -> list[dict]:
    """The experiment's records: the run record, its rows, capacities and claim verdicts."""
    caps = capacities(experiment, rows)
    claims = [verdict(claim, experiment, rows, caps) for claim in experiment.claims]
    head = head | {"wall_s": sum(row["wall_s"] for row in rows)}
    return [head, *rows, *caps, *claims]


def run_suite(
    suite: str,
    experiments: Sequence[Experiment],
    *,
    seeds: int | None,
    out: Path,
    jobs: int = 1,
    threads: int | None = None,
    figures: bool = True,
    log: Log | None = None,
) -> list[Path]:
    """Run ``experiments``; write each one's records (and figure); return the files written."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if figures:
        _require_matplotlib()  # before the training, not after it
    threads = threads or 1
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # this process runs the units when jobs == 1
    try:
        info = machine_info(torch.device("cpu"))
        written: list[Path] = []
        work, heads = [], {}
        for e, experiment in enumerate(experiments):
            n = experiment.seeds if seeds is None else seeds
            heads[e] = run_record(experiment, suite, n, jobs, threads, info)
            work += [(experiment, e, s, a, n) for s in range(len(experiment.settings))
                     for a in range(len(experiment.arms))]  # fmt: skip
        pending: dict[int, dict[tuple[int, int], dict[str, Any]]] = {e: {} for e in heads}
        start = time.perf_counter()
        for e, s, a, record in _results(work, jobs, threads):
            experiment = experiments[e]
            pending[e][(s, a)] = record
            if log:
                log({"event": "row", "record": record, "elapsed_s": time.perf_counter() - start})
            if len(pending[e]) == len(experiment.settings) * len(experiment.arms):
                rows = [pending[e][key] for key in sorted(pending[e])]
                records = finish(experiment, heads[e], rows)
                written.append(_write(suite, experiment, records, out, figures=figures))
                if log:
                    log({"event": "experiment", "experiment": experiment.name,
                         "path": written[-1]})  # fmt: skip
    finally:
        torch.set_num_threads(before)
    return written


def redecide(suite: str, experiments: Sequence[Experiment], out: Path) -> None:
    """Decide the claims of the recorded experiments again from their recorded rows, with the
    current rules of ``findings`` (a verdict is a function of the rows, not a measurement)."""
    for experiment in experiments:
        path = records_path(out, suite, experiment.name)
        if path.is_file():
            records = read_records(path)
            rows = [record for record in records if record["kind"] == "row"]
            write_records(path, finish(experiment, records[0], rows))


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "the efficacy figures need matplotlib: pip install fastweights[plots] "
            "(or run without figures: fwp bench efficacy --no-figures, run_suite(figures=False))"
        ) from error


def _write(
    suite: str, experiment: Experiment, records: list[dict], out: Path, *, figures: bool
) -> Path:
    path = records_path(out, suite, experiment.name)
    if figures:
        from fastweights.bench.efficacy.figures import plot_experiment

        plot_experiment(records, path.with_suffix(".png"))
        records[0] = records[0] | {"figure": path.with_suffix(".png").name}
    write_records(path, records)
    return path
