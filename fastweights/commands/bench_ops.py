"""The ops speed benchmark (`fwp bench ops`, `python benchmarks/ops.py`): options, grid, output.

For every rule × form × size × mode it times the call (median of repeats after warm-up), derives
tokens/s, GFLOP/s and the share of this machine's batched 64×64 matmul rate (`%ceil`, measured
first in the same process), and measures the call's peak memory; causal SDPA at the same sizes is
the baseline. Rows go to stdout as they finish and one JSON object per measurement is appended to
the output file, each carrying the machine, versions, threads, commit and environment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

import torch

from fastweights.bench import table
from fastweights.bench.cases import Case, sdpa_case
from fastweights.bench.fla import FLA_FORMS, FLA_FUNCTIONS, NO_BACKWARD, fla_available
from fastweights.bench.flops import MODES
from fastweights.bench.measure import default_out, machine_info
from fastweights.bench.presets import PRESETS
from fastweights.bench.runner import CEILING_N, Record, Settings, run_cases, utc_now

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
DEFAULTS = {"B": "4", "H": "8", "D": "64", "T": "256,1024,4096", "repeats": "5", "warmup": "2"}
QUICK = {"B": "1", "H": "4", "D": "64", "T": "256,1024", "repeats": "3", "warmup": "1"}
GRID_OPTIONS = ("rules", "forms", "B", "H", "D", "T", "chunk_size", "mode")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to `parser` (values are checked by `run`)."""
    add = parser.add_argument
    add("--rules", help="comma list of rules (default: all registered)")
    add("--forms", help="comma list of forms (default: every form of each rule)")
    add("--B", help=f"batch size (default {DEFAULTS['B']})")
    add("--H", help=f"heads (default {DEFAULTS['H']})")
    add("--D", help=f"head dim, K = V = D (default {DEFAULTS['D']})")
    add("--T", help=f"comma list of lengths (default {DEFAULTS['T']})")
    add("--chunk-size", help="chunk size of the chunk forms (default 64)")
    add("--mode", help="comma list of fwd, fwdbwd (default both)")
    add(
        "--repeats",
        help=f"timed runs per case; the median is reported (default {DEFAULTS['repeats']})",
    )
    add(
        "--warmup",
        help=f"untimed runs first, the estimate run included (default {DEFAULTS['warmup']})",
    )
    add("--quick", action="store_true", help="a small grid that runs in about a minute on 2 cores")
    add("--preset", help=f"a named measurement set: {', '.join(PRESETS)}")
    add("--threads", help="torch.set_num_threads (default: torch's own; always recorded)")
    add("--no-sdpa", action="store_true", help="leave out the causal SDPA baseline")
    add("--device", default="cpu", help="torch device (default cpu)")
    add("--dtype", default="float32", help=f"one of {', '.join(DTYPES)} (default float32)")
    add("--seed", default="0", help="seed of the input generator (default 0)")
    add(
        "--max-seconds",
        default="30",
        help="skip a case whose one run would exceed this (default 30)",
    )
    add(
        "--out",
        help="JSON lines file to append to (default benchmarks/results/ops-<machine>.jsonl)",
    )


def _int(name: str, text: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"--{name} must be >= {minimum}, got {value}")
    return value


def _list(name: str, text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"--{name} must be a non-empty comma list, got {text!r}")
    return items


def _settings(args: argparse.Namespace, sizes: Mapping[str, str]) -> Settings:
    if args.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {tuple(DTYPES)}, got {args.dtype!r}")
    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        raise ValueError(f"--device {args.device!r} is not a torch device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device} asked for, but CUDA is not available")
    try:
        max_seconds = float(args.max_seconds)
    except ValueError:
        raise ValueError(f"--max-seconds must be a number, got {args.max_seconds!r}") from None
    if not max_seconds > 0:
        raise ValueError(f"--max-seconds must be > 0, got {args.max_seconds}")
    return Settings(
        repeats=_int("repeats", args.repeats or sizes["repeats"]),
        warmup=_int("warmup", args.warmup or sizes["warmup"], minimum=0),
        max_seconds=max_seconds,
        device=device,
        dtype=DTYPES[args.dtype],
        seed=_int("seed", args.seed, minimum=0),
    )


def _grid(
    args: argparse.Namespace, sizes: Mapping[str, str], device: torch.device
) -> tuple[list[Case], list[str]]:
    """The cases of the grid options, and notes on rule/form pairs left out."""
    from fastweights.ops import RULES  # the rules are imported only when benchmarked

    rules = _list("rules", args.rules) if args.rules else list(RULES)
    unknown = [name for name in rules if name not in RULES]
    if unknown:
        raise ValueError(f"--rules: unknown {unknown}; registered rules: {tuple(RULES)}")
    offers = {name: _offered(RULES[name], device) for name in rules}
    offered = set().union(*offers.values())
    forms = _list("forms", args.forms) if args.forms else sorted(offered)
    if args.forms and (missing := [form for form in forms if form not in offered]):
        raise ValueError(
            f"--forms: {missing} offered by none of {rules} on {device.type}; they offer "
            f"{sorted(offered)} (the Triton and fla forms need --device cuda)"
        )
    modes = _list("mode", args.mode) if args.mode else list(MODES)
    if bad := [mode for mode in modes if mode not in MODES]:
        raise ValueError(f"--mode: unknown {bad}; choose from {MODES}")
    B, H, D = (
        _int(name, args_value or sizes[name])
        for name, args_value in (("B", args.B), ("H", args.H), ("D", args.D))
    )
    lengths = sorted({_int("T", text) for text in _list("T", args.T or sizes["T"])})
    chunk_size = _int("chunk-size", args.chunk_size or "64")

    notes, pairs = [], []
    for name in rules:
        for form in forms:
            if form not in offers[name]:
                notes.append(f"note: {name} has no {form!r} form here; not measured")
            else:
                pairs.append((name, form))
    cases = []
    for mode in modes:  # T ascending within each family, so larger T are estimated from smaller
        for T in lengths:
            cases += [
                Case(name, form, mode, B, T, H, D, D, chunk_size)
                for name, form in pairs
                if not (mode == "fwdbwd" and (name, form) in NO_BACKWARD)
            ]
            if not args.no_sdpa:
                cases.append(sdpa_case(mode, B, T, H, D))
    if "fwdbwd" in modes and (skipped := sorted(set(pairs) & NO_BACKWARD)):
        notes.append(f"note: {skipped} have no backward; fwd only")
    return cases, notes


def _offered(rule: object, device: torch.device) -> set[str]:
    """The forms of `rule` that run on `device`: the PyTorch forms; on CUDA also the Triton
    kernels and, where fla is installed, fla's kernels."""
    forms = set(rule.forms)
    if device.type == "cuda":
        forms |= set(rule.kernels)
        if fla_available():
            forms |= {form for form in FLA_FORMS if (rule.name, form) in FLA_FUNCTIONS}
    return forms


def plan(args: argparse.Namespace) -> tuple[list[Case], Settings, list[str]]:
    """Check the options and return the cases, how to measure them, and notes to print."""
    if args.preset is not None:
        if args.preset not in PRESETS:
            raise ValueError(f"--preset must be one of {tuple(PRESETS)}, got {args.preset!r}")
        fixed = [name for name in GRID_OPTIONS if getattr(args, name) is not None]
        if fixed or args.quick or args.no_sdpa:
            given = [f"--{name.replace('_', '-')}" for name in fixed]
            given += ["--quick"] * args.quick + ["--no-sdpa"] * args.no_sdpa
            raise ValueError(f"--preset {args.preset} fixes the grid; drop {', '.join(given)}")
        if args.dtype != "float32":
            raise ValueError(f"--preset {args.preset} is float32; drop --dtype {args.dtype}")
        return PRESETS[args.preset].cases(), _settings(args, DEFAULTS), []
    sizes = QUICK if args.quick else DEFAULTS
    settings = _settings(args, sizes)
    cases, notes = _grid(args, sizes, settings.device)
    return cases, settings, notes


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the options describe; print the table, append the records; exit code."""
    cases, settings, notes = plan(args)
    if args.threads is not None:
        torch.set_num_threads(_int("threads", args.threads))
    info = machine_info(settings.device)
    out = Path(args.out) if args.out else default_out(info)
    out.parent.mkdir(parents=True, exist_ok=True)
    for line in table.header(info | {"timestamp": utc_now()}) + notes:
        print(line, flush=True)

    rows = 0
    with out.open("a") as sink:

        def emit(record: Record) -> None:
            nonlocal rows
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            if record["kind"] == "ceiling":
                print(table.ceiling_line(record), flush=True)
                return
            if rows == 0:
                print(
                    f"%ceil is against n={CEILING_N[0]}, measured again before each case"
                    f"\n\n{table.column_header()}",
                    flush=True,
                )
            rows += 1
            print(table.row(record), flush=True)

        records = run_cases(cases, settings, emit, info)
    if args.preset is not None:
        print("\n" + "\n".join(PRESETS[args.preset].summary(records)), flush=True)
    print(f"\n{len(records)} records appended to {out}", flush=True)
    return 0
