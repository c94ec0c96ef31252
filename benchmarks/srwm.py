"""Times the SRWM Triton kernel against the PyTorch SRWM forms on a CUDA GPU.

``python benchmarks/srwm.py [options]``: the ``srwm`` cell's ``triton_recurrent`` kernel form
(the fused recurrent Triton kernel; records before the renaming call it ``triton``) against its
PyTorch forms ``fused`` (stacked matrix, reverting backward) and ``recurrent`` (the scan), in one
process on one device, forward (no grad) and forward+backward (into ``x`` and the initial state),
at B=4, H=8, D ∈ {32, 64}, T=4096 by default, float32, the paper's input softmax on ``x``. The
median of ``--repeats`` runs after ``--warmup`` runs; ``--accuracy`` adds, per length, the error
of the float32 forms against the float64 ``fused`` form (equal to the scan in float64).

Every record is a JSON line (default ``benchmarks/results/srwm-cuda-<gpu>.jsonl``) carrying the
machine (GPU, torch/triton versions, commit: ``fastweights.bench.measure.machine_info``) and a
``run_id``; compare numbers within one run only. Without CUDA (or under ``TRITON_INTERPRET=1``) it
refuses with one line and exit code 2: the kernel's speed can only be measured on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

# Run from a checkout without installing: the repository root holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from fastweights.bench.measure import (
    default_out,
    machine_info,
    peak_memory,
    time_call,
    time_repeats,
)
from fastweights.bench.runner import utc_now
from fastweights.ops import CELLS
from fastweights.ops.cells import srwm

KERNEL = "triton_recurrent"  # the fused recurrent Triton kernel
FORMS = (KERNEL, "fused", "recurrent")
MODES = ("fwd", "fwdbwd")
DEVICE = torch.device("cuda")


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _names(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [v for v in text.split(",") if v]
        if not names or any(n not in allowed for n in names):
            raise argparse.ArgumentTypeError(f"expected some of {', '.join(allowed)}, got {text!r}")
        return names

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--B", type=_ints, default=[4], help="batch (4)")
    p.add_argument("--H", type=_ints, default=[8], help="heads (8)")
    p.add_argument("--D", type=_ints, default=[32, 64], help="head dims, comma list (32,64)")
    p.add_argument("--T", type=_ints, default=[4096], help="lengths, comma list (4096)")
    p.add_argument("--forms", type=_names(FORMS), default=list(FORMS), help="(all)")
    p.add_argument("--mode", type=_names(MODES), default=list(MODES), help="(fwd,fwdbwd)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs, median reported (5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first, >= 1 (2)")
    p.add_argument("--max-seconds", type=float, default=20.0, help="skip slower cases (20)")
    p.add_argument("--accuracy", type=_ints, default=[], help="lengths for the error table")
    p.add_argument("--commit", default=None, help="commit to record where .git is absent")
    p.add_argument("--out", type=Path, default=None, help="JSON lines file, appended")
    return p


def _inputs(B: int, T: int, H: int, D: int, dtype: torch.dtype) -> tuple[torch.Tensor, srwm.State]:
    x, state, _ = srwm.example(B, T, torch.Generator().manual_seed(T), dtype=dtype, heads=H, d=D)
    return x.softmax(-1).to(DEVICE), srwm.State(*(W.to(DEVICE) for W in state))


def _call(form: str, mode: str, x: torch.Tensor, state: srwm.State) -> Callable[[], object]:
    if mode == "fwd":

        def forward() -> object:
            with torch.no_grad():
                return CELLS["srwm"](x, state, impl=form)

        return forward
    leaves = [x.clone().requires_grad_(), *(W.clone().requires_grad_() for W in state)]
    gen = torch.Generator(device=x.device).manual_seed(1)
    cot = None

    def forward_backward() -> None:
        nonlocal cot
        for leaf in leaves:
            leaf.grad = None
        y, final = CELLS["srwm"](leaves[0], srwm.State(*leaves[1:]), impl=form)
        outputs = [y, *final]
        if cot is None:  # fixed random upstream gradients
            cot = [torch.randn(o.shape, generator=gen, device=o.device) for o in outputs]
        torch.autograd.backward(outputs, cot)

    return forward_backward


def _time_case(fn: Callable[[], object], args: argparse.Namespace) -> dict[str, object]:
    first = time_call(fn, DEVICE)  # includes the kernels' compilation for the first shape
    if first > args.max_seconds:
        return {"status": "skipped", "first_run_s": first}
    times = time_repeats(fn, DEVICE, args.repeats, max(args.warmup - 1, 0))
    peak, method = peak_memory(fn, DEVICE)
    median = sorted(times)[len(times) // 2]
    return {"status": "ok", "first_run_s": first, "time_s": median, "times_s": times,
            "peak_mem_bytes": peak, "peak_mem_method": method}  # fmt: skip


def _errors(form: str, x: torch.Tensor, state: srwm.State, exact: list) -> dict[str, float]:
    """Max relative error (max|a − e| / max|e|) of y, the state and every gradient, float32."""
    got = _results(form, x.float(), srwm.State(*(W.float() for W in state)))
    names = ["y", "W_y", "W_q", "W_k", "w_b", "dx", "dW_y", "dW_q", "dW_k", "dw_b"]
    return {
        n: ((a.double() - e).abs().max() / e.abs().max()).item()
        for n, a, e in zip(names, got, exact, strict=True)
    }


def _results(form: str, x: torch.Tensor, state: srwm.State) -> list[torch.Tensor]:
    leaves = [x.clone().requires_grad_(), *(W.clone().requires_grad_() for W in state)]
    y, final = CELLS["srwm"](leaves[0], srwm.State(*leaves[1:]), impl=form)
    gen = torch.Generator(device=x.device).manual_seed(2)
    outputs = [y, *final]
    # the same upstream gradients in every dtype: drawn in float64, then cast
    cot = [
        torch.randn(o.shape, generator=gen, device=o.device, dtype=torch.float64) for o in outputs
    ]
    cot = [c.to(o.dtype) for c, o in zip(cot, outputs, strict=True)]
    loss = sum((o * c).sum() for o, c in zip(outputs, cot, strict=True))
    grads = torch.autograd.grad(loss, leaves)
    return [t.detach() for t in outputs] + list(grads)


def run(args: argparse.Namespace) -> int:
    if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available():
        need = "a CUDA GPU (none here, or TRITON_INTERPRET=1 is set)"
        print(f"error: the SRWM kernel benchmark needs {need}; its speed is never estimated",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.warmup < 1 or args.repeats < 1:
        print("error: --warmup and --repeats must be >= 1", file=sys.stderr)
        return 2
    info = machine_info(DEVICE)
    if args.commit:
        info["commit"] = args.commit
    out = args.out or default_out(info, "srwm")
    out.parent.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    print(f"# {info['device_name']}  torch {info['torch']}  triton {info['triton']}  "
          f"commit {info['commit']}  run {run_id}")  # fmt: skip

    def emit(record: dict[str, object]) -> None:
        record = {"run_id": run_id, "timestamp": utc_now(), "machine": info} | record
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")

    print(
        f"{'form':18s}{'mode':8s}{'B':>3s}{'T':>7s}{'H':>4s}{'D':>5s}{'ms':>12s}{'peak MiB':>10s}"
    )
    for B in args.B:
        for H in args.H:
            for D in args.D:
                for T in args.T:
                    x, state = _inputs(B, T, H, D, torch.float32)
                    for mode in args.mode:
                        times = {}
                        for form in args.forms:
                            case = {"form": form, "mode": mode, "B": B, "T": T, "H": H, "D": D}
                            result = _time_case(_call(form, mode, x, state), args)
                            emit({"kind": "srwm"} | case | result)
                            if result["status"] == "ok":
                                times[form] = result["time_s"]
                                mib = (result["peak_mem_bytes"] or 0) / 2**20
                                shown = f"{1e3 * result['time_s']:12.2f}{mib:10.1f}"
                            else:
                                shown = f"  skipped (first run {result['first_run_s']:.1f} s)"
                            print(f"{form:18s}{mode:8s}{B:3d}{T:7d}{H:4d}{D:5d}{shown}")
                        for base in (f for f in times if f != KERNEL and KERNEL in times):
                            speedup = times[base] / times[KERNEL]
                            emit({"kind": "srwm-speedup", "mode": mode, "B": B, "T": T, "H": H,
                                  "D": D, "baseline": base, "speedup": speedup})  # fmt: skip
                            print(f"    speed-up of {KERNEL} over {base}: {speedup:.2f}x")
    for T in args.accuracy:
        B, H, D = args.B[0], args.H[0], args.D[0]
        x, state = _inputs(B, T, H, D, torch.float64)
        exact = _results("fused", x, state)
        for form in (KERNEL, "recurrent"):
            errors = _errors(form, x, state, exact)
            emit({"kind": "srwm-accuracy", "form": form, "B": B, "T": T, "H": H, "D": D,
                  "reference": "fused float64", "max_rel_error": errors})  # fmt: skip
            worst = max(errors, key=errors.get)
            print(f"accuracy T={T} D={D} {form} float32: y {errors['y']:.2e}, "
                  f"dx {errors['dx']:.2e}, worst {worst} {errors[worst]:.2e}")  # fmt: skip
    print(f"# records appended to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(parser().parse_args()))
