"""Regenerate the pictures of ``docs/inspect.md`` from real runs (``make docs-images``).

Trains small models (the ``ar-editing-*`` run presets: 2 layers, d_model 64, 4 heads) on
associative retrieval with edits, the task of ``fwp demo`` (Schlag, Irie, Schmidhuber 2021,
arXiv:2102.11174): a DeltaNet, a linear Transformer (sum rule), a softmax Transformer (for its
attention) and a modern self-referential weight matrix (SRWM, arXiv:2202.05780), each for
``--steps`` steps. Then records one sequence of the evaluation data with each model
(``fastweights.analysis.record``) and writes the figures of ``fastweights.analysis.plots`` and
the GIF of ``fastweights.analysis.animation`` to ``docs/images/inspect/``. Runs are kept in
``--runs`` and reused (``--retrain`` trains again), so redrawing the pictures is quick.

    python scripts/make_inspect_docs.py [--steps 300] [--runs runs/inspect-docs]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastweights.analysis import Recording, record
from fastweights.analysis.animation import weights_gif
from fastweights.analysis.inputs import evaluation_sample, step_tokens
from fastweights.analysis.measures import frobenius_norm
from fastweights.analysis.plots import (
    attention_matrices,
    beta_strip,
    filmstrip,
    graph_view,
    measure_series,
    png_bytes,
    srwm_submatrices,
    srwm_updates,
    traffic_heatmap,
    weight_heatmaps,
)
from fastweights.analysis.report import write_report
from fastweights.train.loop import CHECKPOINT, train
from fastweights.train.presets import configs
from fastweights.train.run_dir import load_run

ROOT = Path(__file__).resolve().parents[1]
# name -> (run preset, overrides): equal model sizes and data, only the mixer differs
RUNS = {
    "delta": ("ar-editing-delta", []),
    "sum": ("ar-editing-sum", []),
    "softmax": ("ar-editing-delta", ["--model.mixer=softmax"]),
    "srwm": ("ar-editing-delta", ["--model.mixer=srwm"]),
}
# the layer holding the key -> value memory (the first: it reads the one-hot keys and values)
LAYER = 0
MEASURES = ["frobenius_norm", "update_norm", "write_strength", "delta_correction"]


def busiest_head(recording: Recording) -> int:
    """The head whose fast weights hold the most at the end (largest ‖W_T‖_F)."""
    layer = recording.layers[LAYER]
    return layer.heads[int(np.argmax(frobenius_norm(layer.weights[-1])))]


def figures(runs: dict[str, Recording]) -> dict[str, Callable[[], Any]]:
    """File name -> the picture, drawn when called."""
    delta, sum_rule, srwm = runs["delta"], runs["sum"], runs["srwm"]
    head, sum_head = busiest_head(delta), busiest_head(sum_rule)
    return {
        "weights": lambda: weight_heatmaps(delta, layer=LAYER),
        "filmstrip-delta": lambda: filmstrip(delta, layer=LAYER, head=head),
        "filmstrip-sum": lambda: filmstrip(sum_rule, layer=LAYER, head=sum_head),
        "measures-delta": lambda: measure_series(delta, layer=LAYER, measures=MEASURES),
        "measures-sum": lambda: measure_series(sum_rule, layer=LAYER, measures=MEASURES),
        "beta": lambda: beta_strip(delta, layer=LAYER),
        "traffic": lambda: traffic_heatmap(delta, layer=LAYER, head=head),
        "graph": lambda: graph_view(delta, layer=LAYER, head=head),
        "attention": lambda: attention_matrices([delta, runs["softmax"]], layer=LAYER),
        "srwm-blocks": lambda: srwm_submatrices(srwm, layer=LAYER),
        "srwm-updates": lambda: srwm_updates(srwm, layer=LAYER),
    }


def trained(name: str, runs: Path, steps: int, retrain: bool) -> Path:
    """The run directory of ``name``, trained now unless a finished run is there."""
    preset, overrides = RUNS[name]
    directory = runs / name
    if (directory / CHECKPOINT).is_file() and not retrain:
        print(f"{name}: reusing {directory}", flush=True)
        return directory
    if directory.exists():
        for path in directory.iterdir():
            path.unlink()
    task, model_config, train_config = configs(
        preset, [*overrides, f"--train.steps={steps}", f"--train.eval_every={max(1, steps // 4)}"]
    )
    start = time.perf_counter()
    train(task, model_config, train_config, directory)
    print(f"{name}: trained {steps} steps in {time.perf_counter() - start:.0f} s", flush=True)
    return directory


def last_eval(directory: Path) -> dict:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"eval_loss"' in line][-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "inspect-docs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "inspect")
    parser.add_argument("--sample", type=int, default=0, help="which evaluation sequence")
    parser.add_argument("--retrain", action="store_true", help="train again even if runs exist")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    # one thread: these small matmuls gain nothing from two, and on a small shared VM idle
    # libgomp workers can stall the second thread (measured here: 2 threads took 4x longer)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    recordings = {}
    for name in RUNS:
        directory = trained(name, args.runs, args.steps, args.retrain)
        task, model, config = load_run(directory)
        one = evaluation_sample(task, config.batch_size, config.seed, args.sample)
        recordings[name] = record(
            model, one.x.unsqueeze(0), tokens=step_tokens(task, one.x), task=task
        )
        scores = last_eval(directory)
        print(
            f"{name}: eval loss {scores['eval_loss']:.4f}, accuracy {scores['eval_accuracy']:.3f}",
            flush=True,
        )

    written = []
    for file, picture in figures(recordings).items():
        path = args.out / f"{file}.png"
        path.write_bytes(png_bytes(picture(), dpi=72))
        written.append(path)
    gif = args.out / "weights-delta.gif"
    weights_gif(recordings["delta"], gif, layer=LAYER, fps=3)
    written.append(gif)
    report = write_report(
        recordings["delta"], args.runs / "delta-report.html", compare=[recordings["softmax"]]
    )
    total = sum(path.stat().st_size for path in written)
    for path in written:
        print(f"  {path}  {path.stat().st_size / 1024:.0f} KiB")
    print(f"{len(written)} files, {total / 1024:.0f} KiB in all; the full report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
