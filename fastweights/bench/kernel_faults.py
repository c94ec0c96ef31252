"""Find which rule kernel, with which launch config, faults or goes wrong on a GPU.

An illegal memory access kills the CUDA context, so one process cannot go on past it. The scan
runs its cases in a worker process with ``CUDA_LAUNCH_BLOCKING=1`` (every launch synchronous, so
the error is raised at the launch that faulted); when a worker dies, the case it was running is
recorded as a fault with the launch it died in, and a new worker starts at the next case.

A case is (dtype, rule, form, kernel, config): every kernel of the form runs its first launch
config except the kernel under test, which runs the given one (``pin``: no autotuning). The form
runs forward and backward at the given shape; its output, final state and every input gradient
are compared with the PyTorch chunk form run in float32 on the same inputs, as the largest error
relative to the reference's largest magnitude (a wrong-result signal, not the precision test:
that is ``tests/ops/triton_kernels`` with its error budgets). Each form's first case has every
kernel at its first config.

    python -m fastweights.bench.kernel_faults [--B 4 --T 1024 --H 16 --D 128]
        [--dtypes bfloat16,float32] [--rules delta,gated_delta,sum] [--budget-s 150] [--out F]

One JSON line per case goes to ``--out`` (with the device and versions), and a table to stdout.
Exit code 1 when a case faulted or went wrong, 0 otherwise (cases not run for lack of time are
listed, not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from fastweights.bench.cases import rule_inputs
from fastweights.ops import RULES
from fastweights.ops.triton import chunk_bwd, chunk_fwd, recurrent
from fastweights.ops.triton.common import triton

WRONG = 0.2  # relative error past which a result is wrong, whatever the dtype

# per form, its kernels in launch order: (module, kernel name, its launch configs)
KERNELS: dict[str, list[tuple[Any, str, list[triton.Config]]]] = {
    "triton_chunk": [
        (chunk_fwd, "chunk_fwd_intra_kernel", chunk_fwd.PARALLEL_CONFIGS),
        (chunk_fwd, "chunk_fwd_state_kernel", chunk_fwd.SEQUENTIAL_CONFIGS),
        (chunk_fwd, "chunk_fwd_output_kernel", chunk_fwd.PARALLEL_CONFIGS),
        (chunk_bwd, "chunk_bwd_state_kernel", chunk_fwd.SEQUENTIAL_CONFIGS),
        (chunk_bwd, "chunk_bwd_intra_kernel", chunk_fwd.PARALLEL_CONFIGS),
    ],
    "triton_recurrent": [
        (recurrent, "recurrent_fwd_kernel", recurrent.CONFIGS),
        (recurrent, "recurrent_bwd_reverse_kernel", recurrent.CONFIGS),
        (recurrent, "recurrent_bwd_forward_kernel", recurrent.CONFIGS),
    ],
}
FORMS = {
    "delta": ("triton_chunk", "triton_recurrent"),
    "gated_delta": ("triton_chunk", "triton_recurrent"),
    "sum": ("triton_recurrent",),
}


@dataclass(frozen=True)
class Case:
    dtype: str
    rule: str
    form: str
    kernel: str  # the kernel under test
    config: int  # its launch config (index into its list); 0 for all: the form's first case

    def label(self) -> str:
        tested = f"{self.kernel} #{self.config}" if self.config else "every kernel #0"
        return f"{self.dtype:8s} {self.rule:11s} {self.form:16s} {tested}"


def cases(dtypes: list[str], rules: list[str]) -> list[Case]:
    """Per dtype, rule and form: every kernel at its first config, then each other config."""
    out = []
    for dtype in dtypes:
        for rule in rules:
            for form in FORMS[rule]:
                kernels = KERNELS[form]
                out.append(Case(dtype, rule, form, kernels[0][1], 0))
                out += [
                    Case(dtype, rule, form, name, i)
                    for _, name, configs in kernels
                    for i in range(1, len(configs))
                ]
    return out


def pin(kernel: Any, config: triton.Config) -> None:
    """Launch ``kernel`` with ``config`` alone: an autotuner gets one config (triton then times
    nothing); under the interpreter (``triton.heuristics``) its meta-parameters are fixed."""
    if hasattr(kernel, "configs"):
        kernel.configs = [config]
        kernel.cache.clear()
    else:
        kernel.values = {name: (lambda _args, v=v: v) for name, v in config.kwargs.items()}


def _inputs(rule: str, shape: dict[str, int], dtype: torch.dtype, device: str) -> dict[str, Any]:
    """The benchmark's inputs and upstream grads (``fastweights.bench.cases.rule_inputs``)."""
    gen = torch.Generator(device=device).manual_seed(0)
    B, T, H, D = shape["B"], shape["T"], shape["H"], shape["D"]
    inputs, upstream = rule_inputs(RULES[rule].gates, B, T, H, D, D, gen, dtype)
    return {"inputs": inputs, "upstream": upstream}


def _run(rule: str, impl: str, data: dict[str, Any], dtype: torch.dtype) -> list[torch.Tensor]:
    """Output, final state and the gradient of every input, as float32."""
    leaves = {n: t.detach().to(dtype).requires_grad_() for n, t in data["inputs"].items()}
    leaves["initial_state"] = leaves["initial_state"].float().detach().requires_grad_()
    out = RULES[rule](**leaves, impl=impl, scale=1.0)
    d_o, d_state = data["upstream"]
    torch.autograd.backward((out.o, out.state), (d_o.to(out.o.dtype), d_state))
    return [out.o.float(), out.state.float(), *(t.grad.float() for t in leaves.values())]


def run_case(case: Case, shape: dict[str, int], device: str) -> float:
    """Pin the case's configs, run the form forward and backward, return its relative error."""
    for module, name, configs in KERNELS[case.form]:
        pin(getattr(module, name), configs[case.config if name == case.kernel else 0])
    dtype = getattr(torch, case.dtype)
    data = _inputs(case.rule, shape, dtype, device)
    got = _run(case.rule, case.form, data, dtype)
    if device == "cuda":
        torch.cuda.synchronize()
    want = _run(case.rule, "chunk", data, torch.float32)
    return max(
        ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item()
        for g, w in zip(got, want, strict=True)
    )


def _launch_site(error: BaseException) -> str:
    """The last line of ``fastweights.ops.triton`` in the traceback: the launch that failed."""
    here = os.path.dirname(__file__)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(here)]
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


def worker(all_cases: list[Case], start: int, shape: dict[str, int], device: str) -> None:
    """Run cases from ``start`` on, one JSON line each; exit 3 at the first failure."""
    for index in range(start, len(all_cases)):
        began = time.perf_counter()
        record: dict[str, Any] = {"case": index}
        try:
            error = run_case(all_cases[index], shape, device)
            record.update(status="wrong" if not error <= WRONG else "ok", error=error)
        except Exception as exc:  # a fault, or any other failure: recorded, then stop
            record.update(status="failed", message=f"{type(exc).__name__}: {exc}"[:500],
                          where=_launch_site(exc))  # fmt: skip
        record["seconds"] = round(time.perf_counter() - began, 3)
        print(json.dumps(record), flush=True)
        if record["status"] == "failed":
            sys.exit(3)


Runner = Callable[[int, float], tuple[list[dict[str, Any]], str]]


def scan(n_cases: int, run_from: Runner, budget_s: float) -> list[dict[str, Any]]:
    """Records of cases ``0 .. n_cases-1``: ``run_from(start, seconds)`` runs a worker from
    ``start`` and returns its records and the tail of its stderr; a case a worker died in without
    a record is ``died``; cases past the budget are ``not run``."""
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + budget_s
    while len(records) < n_cases:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        got, stderr = run_from(len(records), left)
        records += got
        if len(records) < n_cases and (not got or got[-1]["status"] != "failed"):
            if time.monotonic() >= deadline:
                break
            records.append({"case": len(records), "status": "died", "message": stderr[-500:]})
    records += [{"case": i, "status": "not run"} for i in range(len(records), n_cases)]
    return records


def _subprocess_runner(argv: list[str]) -> Runner:
    def run_from(start: int, seconds: float) -> tuple[list[dict[str, Any]], str]:
        cmd = [
            sys.executable,
            "-m",
            "fastweights.bench.kernel_faults",
            *argv,
            "--worker",
            str(start),
        ]
        env = {**os.environ, "CUDA_LAUNCH_BLOCKING": "1"}
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds)
            stdout, stderr = done.stdout, done.stderr
        except subprocess.TimeoutExpired as timeout:
            stdout, stderr = _text(timeout.stdout), _text(timeout.stderr)
        lines = [line for line in stdout.splitlines() if line.startswith('{"case"')]
        return [json.loads(line) for line in lines], stderr

    return run_from


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


# environment variables that change what the kernels compile to (DISABLE_MMA_V3: Triton's
# mma.sync instead of Hopper's wgmma)
ENV = ("DISABLE_MMA_V3", "FASTWEIGHTS_TRITON_AUTOTUNE", "TRITON_INTERPRET")


def _machine(device: str) -> dict[str, Any]:
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (triton interpreter)"
    env = {key: os.environ.get(key) for key in ENV}
    return {"device": name, "torch": torch.__version__, "triton": triton.__version__, "env": env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("B", 4), ("T", 1024), ("H", 16), ("D", 128)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--rules", default="delta,gated_delta,sum")
    parser.add_argument("--budget-s", type=float, default=150.0)
    parser.add_argument("--out", default=None, help="JSON lines file, appended")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dtypes, rules = args.dtypes.split(","), args.rules.split(",")
    for dtype in dtypes:
        if dtype not in ("bfloat16", "float16", "float32"):
            parser.error(f"--dtypes: bfloat16, float16 or float32, got {dtype!r}")
    for rule in rules:
        if rule not in FORMS:
            parser.error(f"--rules: one of {', '.join(FORMS)}, got {rule!r}")
    shape = {"B": args.B, "T": args.T, "H": args.H, "D": args.D}
    device = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"
    all_cases = cases(dtypes, rules)
    if args.worker is not None:
        worker(all_cases, args.worker, shape, device)
        return 0
    passed = [f"--{n}={v}" for n, v in shape.items()] + [f"--dtypes={args.dtypes}",
                                                           f"--rules={args.rules}"]  # fmt: skip
    records = scan(len(all_cases), _subprocess_runner(passed), args.budget_s)
    machine = {**_machine(device), **shape}
    bad = 0
    for case, record in zip(all_cases, records, strict=True):
        record.update(asdict(case), machine=machine)
        bad += record["status"] in ("failed", "died", "wrong")
        detail = record.get("where", "") + " " + record.get("message", "")
        error = f"{record['error']:.2e}" if "error" in record else ""
        print(f"{case.label():70s} {record['status']:8s} {error:9s} {detail.strip()[:200]}")
    if args.out:
        with open(args.out, "a") as file:
            file.writelines(json.dumps(record) + "\n" for record in records)
    print(f"{len(records)} cases on {machine['device']}: {bad} failed, died or wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
