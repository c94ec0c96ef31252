"""Continuous-time delta rule vs discrete delta rule vs a GRU on irregularly sampled spirals.

    .venv/bin/python scripts/compare_continuous_fwp.py [--steps 400] [--seeds 0 1 2]

Each model is trained with Adam (lr 3e-3, batch 64) on fresh batches of
``IrregularSpirals(length=16, noise=0.2)`` and scored on 2048 held-out series (their own
generator, the same for every model). The continuous-time model solves ``dS/dt = β k (v − Sᵀk)ᵀ``
with rk4 (step 0.5 in units of ``time_scale=16``: the observation spacing is about one unit); the
discrete model is the same slow net through ``RULES["delta"]``, one step per observation; the GRU
reads the same ``(t, x, y)`` observations; ``--arms "continuous delta dx"`` adds the CDE variant
(values from ``dX/ds``). Prints one line per model and seed, then a table.
Needs the ``ode`` extra (torchdiffeq).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import Tensor, nn

from fastweights.nn.continuous_fwp import ContinuousFWPClassifier
from fastweights.tasks.irregular_series import IrregularSpirals


class GRUClassifier(nn.Module):
    def __init__(self, d_input: int, n_out: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(d_input, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out, state = self.gru(x)
        return self.head(out[:, -1]), state


ARMS = ("continuous delta", "discrete delta", "gru", "continuous delta dx")


def build(name: str) -> nn.Module:
    if name == "gru":
        return GRUClassifier(3, 2, hidden=16)
    method = "discrete" if name == "discrete delta" else "rk4"
    values_from = "derivative" if name.endswith(" dx") else "path"  # dx: v = A dX/ds (CDE)
    return ContinuousFWPClassifier(
        3, 2, n_heads=2, d_head=16, method=method, step_size=0.5, time_scale=16.0,
        values_from=values_from,
    )  # fmt: skip


def run(name: str, seed: int, steps: int, task: IrregularSpirals, test: tuple) -> dict:
    torch.manual_seed(seed)  # the parameters' init has no generator argument
    model = build(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1000 + seed)
    start = time.perf_counter()
    for _ in range(steps):
        x, y, _ = task.sample(64, generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x)[0], y[:, -1]).backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    x, y, _ = test
    with torch.no_grad():
        accuracy = float((model(x)[0].argmax(1) == y[:, -1]).float().mean())
    params = sum(p.numel() for p in model.parameters())
    return {"accuracy": accuracy, "seconds": seconds, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS[:3]))
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = IrregularSpirals(length=16, noise=0.2)
    test = task.sample(2048, torch.Generator().manual_seed(12345))
    oracle = float((IrregularSpirals.oracle(test.x) == test.y[:, -1]).float().mean())
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread")
    print(f"winding oracle on the noisy test points: {oracle:.4f}")
    results: dict[str, list[dict]] = {}
    for name in args.arms:
        for seed in args.seeds:
            result = run(name, seed, args.steps, task, test)
            results.setdefault(name, []).append(result)
            print(f"{name:16s} seed {seed}: test accuracy {result['accuracy']:.4f}, "
                  f"{result['params']} params, {result['seconds']:.1f} s")  # fmt: skip
    print("| model | params | test accuracy (mean ± sd over seeds) | train seconds (mean) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        accs = [r["accuracy"] for r in runs]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        secs = statistics.mean(r["seconds"] for r in runs)
        print(f"| {name} | {runs[0]['params']} | {statistics.mean(accs):.4f} ± {sd:.4f} | "
              f"{secs:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
