"""Compile the Triton kernels ahead of time for a GPU target, without a GPU.

Triton ships ptxas, so every kernel of ``fastweights.ops.triton`` (recurrent and chunk) can be
lowered to a cubin for e.g. sm_90 (H100/H200) on any machine: it catches what the interpreter
cannot (type errors of the compiled path, unsupported ops) and reports the shared memory each
kernel asks for, against the target's limit. Slow on a small CPU (minutes per float32 kernel).

    python scripts/compile_kernels.py --dtypes bf16 --arch 90        # exit 1 on any failure
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # compile for the GPU, not the interpreter
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from fastweights.ops.triton import chunk_bwd, chunk_fwd, recurrent

SHARED_LIMIT = {80: 166912, 86: 101376, 89: 101376, 90: 232448}  # bytes per block
TENSORS = ("q", "k", "v", "beta", "g", "o", "d_o", "d_q", "d_k", "d_v", "d_beta", "d_g")


def _jit(kernel: object) -> triton.runtime.jit.JITFunction:
    while not isinstance(kernel, triton.runtime.jit.JITFunction):
        kernel = kernel.fn  # autotune / heuristics wrappers
    return kernel


def _cases(dtype: str, K: int, V: int) -> list[tuple[object, dict, dict, tuple[str, ...]]]:
    """(kernel, constexprs, launch options, float args) for the first config of each kernel."""
    chunk = {"H": 4, "K": K, "V": V, "C": 64, "BK": triton.next_power_of_2(K), "BV": 64}
    chunk["PREC"] = "ieee" if dtype == "fp32" else "tf32"
    rec = {"H": 4, "K": K, "V": V, "BK": triton.next_power_of_2(K), "BV": 32, "DELTA": True}
    cases = []
    for gated in (False, True):
        c, r = chunk | {"GATED": gated}, rec | {"GATED": gated, "BETA_V": False}
        opts = {"num_warps": 4, "num_stages": 1}
        cases += [
            (chunk_fwd.chunk_fwd_intra_kernel, c, opts, ()),
            (chunk_fwd.chunk_fwd_state_kernel, c, opts, ()),
            (chunk_fwd.chunk_fwd_output_kernel, c, opts, ("scale",)),
            (chunk_bwd.chunk_bwd_state_kernel, c, opts, ("scale",)),
            (chunk_bwd.chunk_bwd_intra_kernel, c, opts, ("scale",)),
            (recurrent.recurrent_fwd_kernel, r | {"STORE_VBAR": True}, opts, ("scale",)),
            (recurrent.recurrent_bwd_reverse_kernel, r, opts, ("scale",)),
            (recurrent.recurrent_bwd_forward_kernel, r, opts, ("scale",)),
        ]
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability (90)")
    parser.add_argument("--dtypes", default="bf16,fp16,fp32", help="comma list of input dtypes")
    parser.add_argument("--K", type=int, default=128)
    parser.add_argument("--V", type=int, default=128)
    args = parser.parse_args(argv)
    limit = SHARED_LIMIT.get(args.arch)
    failures = 0
    for dtype in args.dtypes.split(","):
        for kernel, constexprs, options, floats in _cases(dtype, args.K, args.V):
            fn = _jit(kernel)
            signature = {
                name: "constexpr"
                if name in constexprs
                else "i32"
                if name == "T"
                else "fp32"
                if name in floats
                else f"*{dtype}"
                if name in TENSORS
                else "*fp32"
                for name in fn.arg_names
            }
            start = time.perf_counter()
            try:
                compiled = triton.compile(
                    ASTSource(fn, signature, constexprs=constexprs),
                    target=GPUTarget("cuda", args.arch, 32),
                    options=options,
                )
            except Exception as error:  # report every kernel, then fail
                failures += 1
                print(f"FAIL {dtype} {fn.__name__} {constexprs}: {type(error).__name__}: {error}")
                continue
            shared = compiled.metadata.shared
            over = limit is not None and shared > limit
            failures += over
            status, gated = "OVER" if over else "ok  ", constexprs["GATED"]
            print(
                f"{status} {dtype} {fn.__name__:30s} gated={gated!s:5} shared "
                f"{shared / 1024:6.1f} KiB  {time.perf_counter() - start:6.1f} s",
                flush=True,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
