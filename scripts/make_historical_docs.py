"""Regenerate the pictures of the 1993 net in ``docs/historical.md`` from a real run.

Trains the ``meta-srnet1993`` run preset (``fwp train meta-srnet1993``: the 1993 self-referential
net on ``meta_association``, a new item -> label map per episode with each label revealed one
step later on its eval units; Schmidhuber 1993) unless the run exists in ``--run``, then writes
to ``docs/images/historical/``:

- ``srnet1993-episode.png``: the loss at every position of the episode, averaged over
  ``--episodes`` test episodes, of the trained net and of the same net untrained (learning to
  learn: the trained net's error falls within the episode);
- ``srnet1993-microsteps.png``, ``srnet1993-machinery.png``: what it reads and writes per
  micro-step, and how it changes its own analysis/modification machinery, on one sequence of
  the run's evaluation data (``fwp inspect``'s pictures).

    python scripts/make_historical_docs.py [--run runs/meta-srnet1993] [--retrain]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fastweights.analysis import record
from fastweights.analysis.inputs import evaluation_sample
from fastweights.analysis.plots import png_bytes, srnet_machinery, srnet_microstep_maps
from fastweights.analysis.plots_base import new_figure
from fastweights.models import FWPModel
from fastweights.train.loop import CHECKPOINT, train
from fastweights.train.presets import configs
from fastweights.train.run_dir import load_run

ROOT = Path(__file__).resolve().parents[1]
PRESET = "meta-srnet1993"


def per_position_loss(model: FWPModel, task, episodes: int, seed: int) -> torch.Tensor:
    """Cross-entropy at every position ``[T]``, averaged over ``episodes`` fresh episodes."""
    batch = task.sample(episodes, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits, _ = model(batch.x)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.y.flatten(), reduction="none")
    return loss.view(episodes, -1).mean(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/meta-srnet1993", help="the run directory")
    parser.add_argument("--retrain", action="store_true", help="train again even if it exists")
    parser.add_argument("--episodes", type=int, default=512, help="test episodes per curve")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "historical"))
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.retrain or not (run / CHECKPOINT).is_file():
        task, model_config, train_config = configs(PRESET, [])
        start = time.perf_counter()
        train(task, model_config, train_config, run)
        print(f"trained {PRESET} in {time.perf_counter() - start:.0f} s")
    task, model, train_config = load_run(run)
    model.eval()
    with torch.random.fork_rng():
        torch.manual_seed(train_config.seed)
        untrained = FWPModel(model.config).eval()
    trained_curve = per_position_loss(model, task, args.episodes, seed=2_000_003)
    untrained_curve = per_position_loss(untrained, task, args.episodes, seed=2_000_003)
    figure = new_figure(6.0, 3.0, layout="constrained")
    axis = figure.subplots()
    steps = torch.arange(1, len(trained_curve) + 1)
    axis.plot(steps, trained_curve, marker=".", label=f"trained ({train_config.steps} steps)")
    axis.plot(steps, untrained_curve, ":", marker=".", label="untrained")
    chance = torch.log(torch.tensor(float(task.n_labels)))
    axis.axhline(chance, color="0.5", linewidth=0.8, label=f"chance (ln {task.n_labels})")
    axis.set_xlabel("position in the episode", fontsize=8)
    axis.set_ylabel("cross-entropy", fontsize=8)
    axis.set_title(f"1993 net on {task.n_items} new associations per episode "
                   f"(mean of {args.episodes} test episodes)", fontsize=8)  # fmt: skip
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    (out / "srnet1993-episode.png").write_bytes(png_bytes(figure, dpi=100))
    batch = evaluation_sample(task, train_config.batch_size, train_config.seed, 0)
    recording = record(model, batch.x, task=task)
    (out / "srnet1993-microsteps.png").write_bytes(png_bytes(srnet_microstep_maps(recording)))
    (out / "srnet1993-machinery.png").write_bytes(png_bytes(srnet_machinery(recording)))
    early, late = trained_curve[: len(steps) // 3].mean(), trained_curve[-len(steps) // 3 :].mean()
    print(f"trained: early {early:.3f} -> late {late:.3f}; wrote {out}")


if __name__ == "__main__":
    main()
