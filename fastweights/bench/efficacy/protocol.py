"""The measurement protocol of one (setting, arm): fair sizes, learning-rate search, seeds, splits.

1. **Size.** The reference arm's ``ModelConfig`` (experiment + setting fields, the task's sizes);
   every other arm gets ``matched_config`` (its ``d_model`` chosen so its parameter count is as
   close as it gets); the ratio to the reference is recorded and must be within ±10 %. An arm
   with its own block (``Arm.model``, e.g. a published layer in fla's llama block) is matched the
   same way to the reference's count, in its own block (``block_config``).
2. **Learning rate.** Training seed 0 is run once per learning rate of the experiment's grid (the
   same grid and steps for every arm); the lr with the best *validation* metric is kept (ties:
   lower validation loss, then the earlier lr of the grid).
3. **Seeds.** Seeds 1 .. n−1 are trained at the kept lr; seed 0's run is the one from step 2.
   A training seed seeds both the initialisation and the training data (``train.loop.train``),
   so every arm sees the same data stream for the same seed.
4. **Divergence.** A run whose loss turns NaN or infinite (``FloatingPointError``), or whose
   evaluation loss is not finite, is recorded as diverged: never chosen by the lr search, not
   counted as a success, left out of the summaries (the row counts them).
5. **Splits.** Validation, test and (where the task has one) length-generalisation data come from
   fixed generators ``VAL_SEED``, ``TEST_SEED``, ``LENGTH_SEED``: different from every training
   seed and from each other, the same for every arm. Results are reported on test; length
   generalisation separately; validation only chooses the lr.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from typing import Any

from torch import nn

from fastweights.bench.efficacy.evaluation import evaluate_split, split_task
from fastweights.bench.efficacy.spec import METRICS, Arm, Experiment, Setting
from fastweights.bench.efficacy.stats import summarize
from fastweights.models import ModelConfig, count_parameters, matched_config
from fastweights.tasks import TASKS, Task
from fastweights.train.loop import TrainConfig, train

VAL_SEED, TEST_SEED, LENGTH_SEED = 1_000_003, 2_000_003, 3_000_017
SPLIT_SEEDS = {"val": VAL_SEED, "test": TEST_SEED, "length": LENGTH_SEED}
MAX_TRAIN_SEEDS = 1000  # training seeds are 0 .. n−1, far below the split seeds
SIZE_TOLERANCE = 0.10

Trainer = Callable[[Task, ModelConfig, TrainConfig], nn.Module]


def train_model(task: Task, model_config: ModelConfig, train_config: TrainConfig) -> nn.Module:
    """``fastweights.train.loop.train`` in a throwaway run directory."""
    with tempfile.TemporaryDirectory(prefix="fwp-efficacy-") as run_dir:
        return train(task, model_config, train_config, run_dir)


def build_task(experiment: Experiment, setting: Setting) -> Task:
    return TASKS[experiment.task](**setting.task)


def reference_config(experiment: Experiment, setting: Setting, task: Task) -> ModelConfig:
    """The first arm's config: experiment and setting fields, the task's sizes."""
    first = experiment.arms[0]
    sizes = {"vocab_size": task.vocab_size, "d_input": task.d_input, "n_out": task.n_out}
    if getattr(task, "feedback_dims", 0):  # the task's feedback channels (meta_learning)
        sizes["feedback"] = task.feedback_dims
    fields = {**experiment.model, **setting.model, **sizes}
    return ModelConfig(mixer=first.mixer, mixer_options=dict(first.options), **fields)


def arm_config(reference: ModelConfig, arm: Arm) -> ModelConfig:
    """``arm``'s config, its size matched to ``reference`` (``matched_config``).

    An arm that has the reference's size at the reference's width (a feature map adds no
    parameters) keeps that width, as ``matched_config`` would, without its search. An arm with
    its own block fields (``Arm.model``) is matched in that block: see ``block_config``.
    """
    if arm.model:
        return _matched_to(count_parameters(reference), block_config(reference, arm), arm)
    same = dataclasses.replace(reference, mixer=arm.mixer, mixer_options=dict(arm.options))
    if count_parameters(same) == count_parameters(reference):
        return same
    return matched_config(reference, arm.mixer, **arm.options)


def block_config(reference: ModelConfig, arm: Arm) -> ModelConfig:
    """``reference`` with ``arm.model``'s block fields, before its width is matched.

    An arm in the llama block that leaves ``mlp_hidden`` at 0 gets fla's ``GatedMLP`` hidden
    size of the reference's width, ``int(d·mlp_ratio·2/3)``, without fla's rounding up to a
    multiple of 256: that rounding is sized for d in the thousands, and at d = 8–64 it would make
    the MLP 4–30× wider than the stream and leave no width at which the sizes match. Unrounded,
    SwiGLU's three matrices hold about the classic MLP's ``2·mlp_ratio·d²`` weights.
    """
    fields = dict(arm.model)
    llama = fields.get("block", reference.block) == "llama"
    if llama and reference.mlp_ratio and not fields.get("mlp_hidden", reference.mlp_hidden):
        fields["mlp_hidden"] = int(reference.d_model * reference.mlp_ratio * 2 / 3)
    return dataclasses.replace(reference, **fields)


def _matched_to(target: int, base: ModelConfig, arm: Arm) -> ModelConfig:
    """``matched_config`` towards ``target`` (the reference's size in its own block) rather than
    ``base``'s size: ``d_model`` in multiples of ``n_heads`` nearest to it,
    passing over widths the mixer refuses (RoPE's odd head size)."""
    return matched_config(base, arm.mixer, target=target, **arm.options)


def model_configs(
    experiment: Experiment, setting: Setting, task: Task
) -> list[tuple[Arm, ModelConfig]]:
    """Every arm's config: the first arm is the size reference, the others matched to it."""
    reference = reference_config(experiment, setting, task)
    return [(arm, arm_config(reference, arm)) for arm in experiment.arms]


def better(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    """Whether validation result ``a`` beats ``b`` on ``metric`` (ties: lower loss)."""
    higher = METRICS[metric]
    if a[metric] != b[metric]:
        return a[metric] > b[metric] if higher else a[metric] < b[metric]
    return a["loss"] < b["loss"]


def select_lr(results: list[tuple[float, dict[str, Any] | None]], metric: str) -> float:
    """The lr whose validation result is best (ties: lower loss, then the earlier lr).

    A result of None is a run that diverged: never chosen, unless every run diverged (then the
    first lr is kept, and its seeds are recorded as they end).
    """
    if not results:
        raise ValueError("no learning-rate results to choose from")
    finite = [(lr, result) for lr, result in results if result is not None]
    if not finite:
        return results[0][0]
    best_lr, best = finite[0]
    for lr, result in finite[1:]:
        if better(result, best, metric):
            best_lr, best = lr, result
    return best_lr


def train_config(experiment: Experiment, lr: float, seed: int) -> TrainConfig:
    fields = {"eval_every": int(experiment.train["steps"]), "eval_batches": 1}
    return TrainConfig(**{**fields, **experiment.train, "lr": lr, "seed": seed})


def _main(result: dict[str, Any], metric: str) -> float:
    value = result[metric]
    if value is None:
        raise ValueError(f"metric {metric!r} is not defined for this task")
    return float(value)


def run_unit(
    experiment: Experiment,
    setting_index: int,
    arm_index: int,
    seeds: int,
    *,
    trainer: Trainer = train_model,
) -> dict[str, Any]:
    """Run the protocol for one (setting, arm); a JSON-ready record of everything measured."""
    if not 1 <= seeds <= MAX_TRAIN_SEEDS:
        raise ValueError(f"seeds must be in [1, {MAX_TRAIN_SEEDS}], got {seeds}")
    setting = experiment.settings[setting_index]
    task = build_task(experiment, setting)
    reference = reference_config(experiment, setting, task)
    arm = experiment.arms[arm_index]
    config = arm_config(reference, arm)
    splits = {name: split_task(task, how) for name, how in experiment.splits.items()}

    def run(lr: float, seed: int) -> dict[str, Any]:
        start = time.perf_counter()
        out: dict[str, Any] = {"seed": seed, "lr": lr, "diverged": None}
        try:
            model = trainer(task, config, train_config(experiment, lr, seed))
        except FloatingPointError as error:  # NaN/inf loss: recorded, never scored
            seconds = time.perf_counter() - start
            return out | dict.fromkeys(splits) | {"diverged": str(error), "train_s": seconds,
                                                  "wall_s": seconds}  # fmt: skip
        trained = time.perf_counter()
        for name, split in splits.items():
            out[name] = evaluate_split(
                model, split, seed=SPLIT_SEEDS[name], batches=experiment.eval_batches,
                batch_size=experiment.eval_batch_size,
            )  # fmt: skip
        out["train_s"], out["wall_s"] = trained - start, time.perf_counter() - start
        if not all(math.isfinite(out[name]["loss"]) for name in splits):
            # trained, but its outputs are not finite somewhere: as good as diverged
            return out | dict.fromkeys(splits) | {"diverged": "non-finite evaluation loss"}
        return out

    search = [run(lr, 0) for lr in experiment.lrs]
    chosen = select_lr([(r["lr"], r["val"]) for r in search], experiment.metric)
    runs = [next(r for r in search if r["lr"] == chosen)]
    runs += [run(chosen, seed) for seed in range(1, seeds)]
    criterion = experiment.success
    for r in runs:
        if criterion is None:
            r["success"] = None
        else:
            r["success"] = r["diverged"] is None and criterion.met(
                _main(r[criterion.split], criterion.metric)
            )
    finished = [r for r in runs if r["diverged"] is None]
    summary = {
        name: summarize([_main(r[name], experiment.metric) for r in finished]).as_dict()
        if finished
        else None
        for name in ("test", "length")
        if name in splits
    }
    if finished and all(r["test"]["early_loss"] is not None for r in finished):
        # an episodic task: the early-episode error beside the main metric (late_loss)
        summary["test_early"] = summarize([r["test"]["early_loss"] for r in finished]).as_dict()
    params, reference_params = count_parameters(config), count_parameters(reference)
    return {
        "kind": "row",
        "experiment": experiment.name,
        "setting": setting.label,
        "arm": arm.label,
        "mixer": arm.mixer,
        "options": dict(arm.options),
        "task": {"name": experiment.task, **dataclasses.asdict(task)},  # type: ignore[call-overload]
        "model": dataclasses.asdict(config),
        "params": params,
        "reference_params": reference_params,
        "params_ratio": params / reference_params,
        "matched": abs(params / reference_params - 1) <= SIZE_TOLERANCE,
        "train": dataclasses.asdict(train_config(experiment, chosen, 0)),
        "lrs": list(experiment.lrs),
        "lr_search": [{"lr": r["lr"], "val": r["val"], "wall_s": r["wall_s"]} for r in search],
        "chosen_lr": chosen,
        "metric": experiment.metric,
        "higher_is_better": experiment.higher_is_better,
        "split_seeds": {name: SPLIT_SEEDS[name] for name in splits},
        "runs": runs,
        "summary": summary,
        "criterion": None if criterion is None else criterion.describe(),
        "reached": None if criterion is None else sum(bool(r["success"]) for r in runs),
        "diverged": len(runs) - len(finished),
        "seeds": seeds,
        "wall_s": sum(r["wall_s"] for r in search) + sum(r["wall_s"] for r in runs[1:]),
    }
