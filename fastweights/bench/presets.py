"""Named measurement sets of the ops benchmark (`--preset NAME`) and their summaries.

`issue2` is the acceptance set for the chunkwise delta rule on CPU (float32, K = V = 64, C = 64):
(a) `delta` chunk fwd+bwd at B=4, H=8, T=4096 and its share of the batched-matmul ceiling;
(b) `delta` chunk vs recurrent fwd+bwd at B=1, H=4, T=4096 and the speed-up;
(c) `delta` chunk vs causal SDPA fwd+bwd at B=1, H=8, T = 128 ... 8192 and the crossover;
(d) peak memory of `delta` chunk fwd+bwd at B=1, H=8, T=32768 against per-token states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fastweights.bench.cases import SDPA, Case, sdpa_case

D, C = 64, 64
SDPA_LENGTHS = (128, 256, 512, 1024, 2048, 4096, 8192)
MEMORY_T = 32768

Record = Mapping[str, object]


@dataclass(frozen=True)
class Preset:
    """A fixed list of cases and the summary lines printed after them."""

    cases: Callable[[], list[Case]]
    summary: Callable[[Sequence[Record]], list[str]]


def _delta(form: str, B: int, T: int, H: int) -> Case:
    return Case("delta", form, "fwdbwd", B, T, H, D, D, C)


def issue2_cases() -> list[Case]:
    """The cases of (a)-(d), each measured once, in ascending T within each family."""
    cases = [
        _delta("chunk", 4, 4096, 8),
        _delta("chunk", 1, 4096, 4),
        _delta("recurrent", 1, 4096, 4),
    ]
    for T in SDPA_LENGTHS:
        cases += [_delta("chunk", 1, T, 8), sdpa_case("fwdbwd", 1, T, 8, D)]
    cases.append(_delta("chunk", 1, MEMORY_T, 8))
    return cases


def _find(records: Sequence[Record], case: Case) -> Record | None:
    for record in records:
        if record.get("kind") == "op" and all(
            record.get(name) == getattr(case, name)
            for name in ("rule", "form", "mode", "B", "T", "H", "K", "V")
        ):
            return record
    return None


def _time(record: Record | None) -> float | None:
    """The median time of a measured record; None if missing or skipped."""
    if record is None or record["status"] != "ok":
        return None
    value = record["time_s"]
    assert isinstance(value, float)
    return value


def _ms(record: Record | None) -> str:
    seconds = _time(record)
    if seconds is not None:
        return f"{seconds * 1e3:.1f} ms"
    return "not measured" if record is None else f"{record['status']} ({record['reason']})"


def issue2_summary(records: Sequence[Record]) -> list[str]:
    """The four results of issue2, from this run's records."""
    lines = ["summary (issue2: float32, K=V=64, C=64, forward+backward)"]

    a = _find(records, _delta("chunk", 4, 4096, 8))
    pct = None if _time(a) is None else a["pct_ceil"]
    pct_text = "n/a" if pct is None else f"{a['gflops']:.1f} GFLOP/s, {pct:.1f}% of the bmm ceiling"
    lines.append(f"(a) delta chunk B=4 H=8 T=4096: {_ms(a)}, {pct_text}")

    chunk, rec = (
        _find(records, _delta("chunk", 1, 4096, 4)),
        _find(records, _delta("recurrent", 1, 4096, 4)),
    )
    tc, tr = _time(chunk), _time(rec)
    ratio = "n/a" if tc is None or tr is None else f"{tr / tc:.2f}x"
    lines.append(
        f"(b) delta B=1 H=4 T=4096: chunk {_ms(chunk)}, recurrent {_ms(rec)}: "
        f"chunk speed-up {ratio}"
    )

    crossover, ratios = None, []
    for T in SDPA_LENGTHS:
        tc = _time(_find(records, _delta("chunk", 1, T, 8)))
        ts = _time(_find(records, sdpa_case("fwdbwd", 1, T, 8, D)))
        if tc is None or ts is None:
            ratios.append(f"T={T}: n/a")
            continue
        ratios.append(f"T={T}: {ts / tc:.2f}")
        if crossover is None and tc < ts:
            crossover = T
    where = "not within the measured T" if crossover is None else f"T={crossover}"
    lines.append(f"(c) delta chunk vs {SDPA} B=1 H=8: smallest T where chunk is faster: {where}")
    lines.append("    sdpa time / chunk time: " + ", ".join(ratios))

    d = _find(records, _delta("chunk", 1, MEMORY_T, 8))
    peak = None if _time(d) is None else d["peak_mem_bytes"]
    per_token = MEMORY_T * 1 * 8 * D * D * 4
    peak_text = "n/a" if peak is None else f"{peak / 1e9:.3f} GB"
    lines.append(
        f"(d) delta chunk B=1 H=8 T={MEMORY_T}: peak memory {peak_text} ({_ms(d)}); "
        f"per-token states would take {per_token / 1e9:.2f} GB"
    )
    return lines


PRESETS: dict[str, Preset] = {"issue2": Preset(issue2_cases, issue2_summary)}
