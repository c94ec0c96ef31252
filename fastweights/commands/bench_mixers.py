"""``fwp bench mixers [--mixers a,b] [--B --T --d-model --heads --impl ...]``: the mixer speed
benchmark (``fastweights.bench.mixers.measure``), one JSON line per mixer, rows as they finish."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fastweights.bench import table
from fastweights.bench.measure import default_out, machine_info
from fastweights.bench.mixers import measure
from fastweights.bench.runner import utc_now
from fastweights.nn import MIXERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--mixers", help="comma list of mixers (default: all in MIXERS)")
    add("--B", type=int, default=4, help="batch size (default 4)")
    add("--T", type=int, default=256, help="sequence length (default 256)")
    add("--d-model", type=int, default=128, help="model width (default 128)")
    add("--heads", type=int, default=4, help="heads (default 4)")
    add("--repeats", type=int, default=5, help="timed runs; the median is reported (default 5)")
    add("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's own; recorded)")
    add(
        "--impl",
        help="run every rule and cell in this form, e.g. recurrent (default: each layer's own "
        "choice, its fastest form); the baselines have no forms and are left out",
    )
    add("--out", help="JSON lines file, appended (default benchmarks/results/mixers-<machine>)")


def run(args: argparse.Namespace) -> int:
    names = args.mixers.split(",") if args.mixers else list(MIXERS)
    if args.impl is not None:  # the baselines have a single form
        names = [name for name in names if name not in ("softmax", "lstm")]
    unknown = [name for name in names if name not in MIXERS]
    if unknown:
        raise ValueError(f"--mixers: unknown {unknown}; known mixers: {', '.join(MIXERS)}")
    for option in ("B", "T", "d_model", "heads", "repeats"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option.replace('_', '-')} must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    info = machine_info(torch.device("cpu"))
    out = Path(args.out) if args.out else default_out(info, "mixers")
    out.parent.mkdir(parents=True, exist_ok=True)
    for line in table.header(info | {"timestamp": utc_now()}, title="mixers"):
        print(line, flush=True)
    width = max(len("mixer"), *map(len, names)) + 2  # the published names run long
    print(f"\n{'mixer':<{width}}{'impl':<11}{'params':>9}{'ms':>10}{'tok/s':>9}", flush=True)
    with out.open("a") as sink:
        for name in names:
            record = measure(name, args.B, args.T, args.d_model, args.heads, args.repeats,
                             args.warmup, args.impl)  # fmt: skip
            sink.write(json.dumps(record | {"machine": info, "timestamp": utc_now()}) + "\n")
            print(
                f"{name:<{width}}{record['impl'] or '-':<11}{record['params']:>9}"
                f"{1e3 * record['time_s']:>10.1f}{table.si(record['tokens_per_s']):>9}",
                flush=True,
            )
    print(f"\nforward+backward, B={args.B} T={args.T} d_model={args.d_model} heads={args.heads}")
    return 0
