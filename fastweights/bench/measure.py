"""How the benchmarks measure: wall time, the batched-matmul ceiling, peak memory, and the machine.

Timing is `time.perf_counter` around whole calls (CUDA synchronised), warm-up runs first, the
median of the repeats reported, Python's garbage collector paused while timing.

Peak memory on CPU has no allocator statistic in torch, so it is the growth of the process's
resident set: glibc `malloc_trim(0)` returns freed heap pages to the kernel, writing "5" to
`/proc/self/clear_refs` resets the high-water mark VmHWM to the current VmRSS, and the peak of a
call is VmHWM after it minus VmRSS before it. It counts pages actually touched (a `torch.empty`
never written is free) and includes everything the process touches meanwhile. On CUDA it is
`torch.cuda.max_memory_allocated` growth. Where neither works the peak is None ("n/a").
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from fastweights.bench.flops import bmm_flops

ENV_VARS = ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
RECOMMENDED_ENV = (
    "GOMP_SPINCOUNT=infinite (avoids multi-minute stalls of sleeping OpenMP workers); optionally "
    "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 (glibc reuses large buffers)"
)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on `device` (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of `fn` takes, from its start to the end of its device work."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def time_repeats(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int
) -> list[float]:
    """Seconds of each of `repeats` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [time_call(fn, device) for _ in range(repeats)]
    finally:
        if gc_was_enabled:
            gc.enable()


def bmm_ceiling(
    n: int,
    size: int = 64,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    repeats: int = 7,
    min_sample_s: float = 0.02,
) -> float:
    """GFLOP/s of `torch.bmm` on [n, size, size] @ [n, size, size]: median of `repeats` samples.

    Each sample loops the bmm (into a preallocated output) often enough to last `min_sample_s`,
    so that small batches are not timer noise; the loop count is found during warm-up.
    """
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, size, size, generator=gen, device=device, dtype=dtype)
    b = torch.randn(n, size, size, generator=gen, device=device, dtype=dtype)
    out = torch.empty_like(a)
    inner = 1

    def block() -> None:
        for _ in range(inner):
            torch.bmm(a, b, out=out)

    while time_call(block, device) < min_sample_s:  # warm-up that also sizes the sample
        inner *= 2
    seconds = statistics.median(time_repeats(block, device, repeats, warmup=1)) / inner
    return bmm_flops(n, size) / seconds / 1e9


def _status_kib(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM) in KiB; None where unreadable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _malloc_trim() -> None:
    """Give freed glibc heap memory back to the kernel, where glibc is the allocator."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(name).malloc_trim(0)


def _reset_hwm() -> bool:
    """Reset VmHWM to the current VmRSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory(fn: Callable[[], object], device: torch.device) -> tuple[int | None, str]:
    """Run `fn` once; return (bytes its peak added to what was held before, method name).

    Call it after the inputs exist, so they are not counted. The method is "cuda-max-allocated",
    "cpu-vmhwm" or "unavailable" (with None bytes).
    """
    gc.collect()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before, "cuda-max-allocated"
    if device.type != "cpu":
        fn()
        return None, "unavailable"
    _malloc_trim()
    if not _reset_hwm() or (before := _status_kib("VmRSS")) is None:
        fn()
        return None, "unavailable"
    fn()
    after = _status_kib("VmHWM")
    if after is None:
        return None, "unavailable"
    return (after - before) * 1024, "cpu-vmhwm"


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_device(device: torch.device) -> str:
    """A one-line description of the device: GPU name, or CPU model and usable cores."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{_cpu_model()} ({cores} cores)"


def git_commit(where: Path | None = None) -> str:
    """Short hash of the checkout holding this package, "-dirty" if tracked files changed.

    The recorded results under ``benchmarks/results`` do not count: appending to them is what a
    benchmark run does.

    "unknown" when it is not a git checkout or git is missing.
    """
    where = where or Path(__file__).resolve().parents[2]
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True
        )
        # An installed copy inside some other repository (a venv in a checkout) is not a checkout.
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != where.resolve():
            return "unknown"
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True
        )
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/results",
            ],
            cwd=where,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    dirty = "-dirty" if status.returncode != 0 or status.stdout.strip() else ""
    return head.stdout.strip() + dirty


def _version(package: str) -> str | None:
    """Installed version of `package`, None if it is not installed (it is not imported)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(device: torch.device) -> dict[str, object]:
    """What every benchmark record carries: device, versions, threads, commit, env variables."""
    return {
        "device": str(device),
        "device_name": describe_device(device),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "triton": _version("triton"),
        "fla": _version("fla-core"),  # fla's kernels (flash-linear-attention), when installed
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "commit": git_commit(),
        "env": {name: os.environ.get(name) for name in ENV_VARS},
        "argv": sys.argv[1:],
    }


def default_out(info: Mapping[str, object], benchmark: str = "ops") -> Path:
    """benchmarks/results/<benchmark>-<machine>.jsonl, <machine> a slug of the device."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{info['device']} {info['device_name']}".lower()).strip("-")
    return Path("benchmarks") / "results" / f"{benchmark}-{slug}.jsonl"
