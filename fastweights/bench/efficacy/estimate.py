"""A run-time estimate of a suite from a few timed steps of each (setting, arm).

Per unit: the median CPU time of ``probe_steps`` training steps (forward, backward, clipping,
AdamW step; after one untimed step) at the experiment's batch size, and of one evaluation
forward pass at its evaluation batch size. The unit then takes
``runs × (steps × step + splits × eval_batches × forward)`` (``runs`` = learning rates + seeds
− 1). Units spread over ``jobs`` workers, so the
wall time is about the sum over units divided by ``jobs`` (longer when few long units remain).
Times are the process's CPU time (``time.process_time``), not wall time, so that other processes
on a busy machine do not inflate them: with one torch thread per worker they predict the wall
time on a quiet machine. With several threads per process they count every thread's time.
It leaves out what a run does besides its steps (building the model, the training loop's
logging and checkpoint, starting worker processes), so the wall time comes out somewhat longer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

from fastweights.bench.efficacy.evaluation import split_task
from fastweights.bench.efficacy.protocol import (
    arm_config,
    build_task,
    reference_config,
    train_config,
)
from fastweights.bench.efficacy.spec import Experiment
from fastweights.models import FWPModel
from fastweights.train.objective import score


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # untimed: first-call allocations
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def unit_seconds(
    experiment: Experiment, setting_index: int, arm_index: int, seeds: int, probe_steps: int = 3
) -> float:
    """Predicted seconds of one (setting, arm) unit of ``experiment`` with ``seeds`` seeds."""
    setting = experiment.settings[setting_index]
    task = build_task(experiment, setting)
    config = arm_config(reference_config(experiment, setting, task), experiment.arms[arm_index])
    train = train_config(experiment, experiment.lrs[0], 0)
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = FWPModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr)

    def step() -> None:
        batch = task.sample(train.batch_size, generator)
        loss = score(task, batch, model(batch.x)[0]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()

    eval_task = split_task(task, experiment.splits["test"])

    @torch.no_grad()
    def forward() -> None:
        model(eval_task.sample(experiment.eval_batch_size, generator).x)

    per_step = _median_seconds(step, probe_steps)
    per_eval = _median_seconds(forward, 1)
    evals = len(experiment.splits) * experiment.eval_batches
    return experiment.runs_per_unit(seeds) * (train.steps * per_step + evals * per_eval)


def estimate_suite(
    experiments: Sequence[Experiment], seeds: int | None, jobs: int, threads: int | None
) -> list[str]:
    """Lines: predicted worker-minutes per experiment, and the suite's predicted wall time."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or 1)
    try:
        lines, total = [], 0.0
        for experiment in experiments:
            n = experiment.seeds if seeds is None else seeds
            units = [
                unit_seconds(experiment, s, a, n)
                for s in range(len(experiment.settings))
                for a in range(len(experiment.arms))
            ]
            total += sum(units)
            lines.append(
                f"{experiment.name:<10} {len(units):>3} units x "
                f"{experiment.runs_per_unit(n)} runs: "
                f"{sum(units) / 60:6.1f} worker-min (longest unit {max(units) / 60:.1f} min)"
            )
        lines.append(
            f"total {total / 60:.1f} worker-min: about {total / 60 / jobs:.1f} min wall with "
            f"--jobs {jobs}, {torch.get_num_threads()} torch thread(s) each"
        )
        return lines
    finally:
        torch.set_num_threads(before)
