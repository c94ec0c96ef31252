"""Runs a list of cases: the matmul ceiling first, then each case timed, sized and recorded.

A case whose single run would exceed `max_seconds` is skipped and recorded as such: the time is
estimated from the largest shorter case of the same family already measured (scaled by FLOPs, or
by T where no FLOP count exists), else from a first run, which also serves as a warm-up run.
"""

from __future__ import annotations

import datetime
import gc
import statistics
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import torch

from fastweights.bench.cases import SDPA, Case, build_call
from fastweights.bench.measure import bmm_ceiling, peak_memory, time_call, time_repeats

# Batch sizes of the [n, 64, 64] bmm ceiling. %ceil uses the first: 2048 = 4·8·64, all chunk
# products of B=4, H=8, T=4096, C=64 in one batch, operands streaming from memory as in the chunk
# forms. 64 is the block the chunk forms issue and 32 a cache-resident batch: both run faster
# (hot caches) and are recorded beside it.
CEILING_N = (2048, 64, 32)

Record = dict[str, object]


@dataclass(frozen=True)
class Settings:
    """How each case is measured."""

    repeats: int
    warmup: int
    max_seconds: float
    device: torch.device
    dtype: torch.dtype
    seed: int


def _estimate(
    case: Case, seen: Mapping[tuple[object, ...], Case], times: Mapping[Case, float]
) -> float | None:
    """Seconds one run of `case` should take, scaled from the largest shorter case of its family."""
    done = seen.get(case.family())
    if done is None:
        return None
    scale = case.flops / done.flops if case.flops and done.flops else case.T / done.T
    return times[done] * scale


def measure_case(
    case: Case, rule: object | None, settings: Settings, estimate: float | None
) -> Record:
    """Measure one case; the fields of its record (status "ok" or "skipped")."""
    if estimate is not None and estimate > settings.max_seconds:
        reason = f"too slow: estimated {estimate:.1f} s > --max-seconds {settings.max_seconds:g}"
        return {"status": "skipped", "reason": reason, "estimated_s": estimate}
    gen = torch.Generator(device=settings.device).manual_seed(settings.seed)
    call = build_call(case, rule, gen, settings.dtype)
    first = time_call(call, settings.device)  # the first warm-up run, and the time estimate
    if first > settings.max_seconds:
        reason = f"too slow: first run {first:.1f} s > --max-seconds {settings.max_seconds:g}"
        return {"status": "skipped", "reason": reason, "estimated_s": first}
    times = time_repeats(call, settings.device, settings.repeats, max(settings.warmup - 1, 0))
    peak, method = peak_memory(call, settings.device)
    del call
    gc.collect()
    median = statistics.median(times)
    return {
        "status": "ok",
        "time_s": median,
        "times_s": times,
        "first_run_s": first,
        "tokens_per_s": case.B * case.T / median,
        "gflops": None if case.flops is None else case.flops / median / 1e9,
        "peak_mem_bytes": peak,
        "peak_mem_method": method,
    }


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_cases(
    cases: list[Case],
    settings: Settings,
    emit: Callable[[Record], None],
    info: Record,
) -> list[Record]:
    """Measure the ceilings, then every case; pass each record to `emit`; return all records.

    The machine's speed drifts over minutes on shared VMs, so the n = CEILING_N[0] ceiling that
    `%ceil` divides by is measured again right before each case.
    """
    run_id = uuid.uuid4().hex[:12]
    stamp = {"run_id": run_id, "dtype": str(settings.dtype).removeprefix("torch."), "machine": info}
    records: list[Record] = []

    def record(kind: str, fields: Mapping[str, object]) -> Record:
        out = {"kind": kind, "timestamp": utc_now(), **fields, **stamp}
        records.append(out)
        emit(out)
        return out

    for n in CEILING_N:
        rate = bmm_ceiling(n, dtype=settings.dtype, device=settings.device)
        record("ceiling", {"n": n, "size": 64, "gflops": rate})
    rules = _rules({case.rule for case in cases if case.rule != SDPA})
    seen: dict[tuple[object, ...], Case] = {}
    times: dict[Case, float] = {}
    for case in cases:
        ceiling = bmm_ceiling(CEILING_N[0], dtype=settings.dtype, device=settings.device)
        fields = measure_case(case, rules.get(case.rule), settings, _estimate(case, seen, times))
        if fields["status"] == "ok":
            seen[case.family()], times[case] = case, fields["time_s"]
        gflops = fields.get("gflops")
        fields["pct_ceil"] = None if gflops is None else 100 * gflops / ceiling
        described = asdict(case) | {
            "chunk_size": case.chunk_size if case.uses_chunks else None,
            "flops": case.flops,
            "ceiling_gflops": ceiling,
            "repeats": settings.repeats,
            "warmup": settings.warmup,
        }
        record("op", described | fields)
    return records


def _rules(names: set[str]) -> dict[str, object]:
    """The registered rule objects of `names` (fastweights.ops is imported only if needed)."""
    if not names:
        return {}
    from fastweights.ops import RULES

    return {name: RULES[name] for name in names}
