"""The plain-text table of the ops benchmark: the machine header and one row per record."""

from __future__ import annotations

from collections.abc import Mapping

from fastweights.bench.measure import RECOMMENDED_ENV

COLUMNS = (
    ("rule", 11, "<"),
    ("form", 9, "<"),
    ("mode", 6, "<"),
    ("B", 3, ">"),
    ("T", 6, ">"),
    ("H", 3, ">"),
    ("D", 4, ">"),
    ("ms", 10, ">"),
    ("tok/s", 8, ">"),
    ("GFLOP/s", 8, ">"),
    ("%ceil", 6, ">"),
    ("peak MiB", 9, ">"),
)


def si(x: float) -> str:
    """A short number with an SI suffix: 1234567 -> "1.23M"."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def header(info: Mapping[str, object], title: str = "ops") -> list[str]:
    """Lines describing the machine, versions, threads, commit and environment of a run."""
    env = info["env"]
    assert isinstance(env, Mapping)
    env_text = " ".join(
        f"{name}={value if value is not None else '(unset)'}" for name, value in env.items()
    )
    return [
        f"fastweights {title} benchmark   commit {info['commit']}   {info['timestamp']}",
        f"device: {info['device']} - {info['device_name']}   torch threads: {info['threads']}",
        f"torch {info['torch']}   triton {info['triton'] or '-'}   numpy {info['numpy'] or '-'}"
        f"   python {info['python']}",
        f"env: {env_text}",
        f"recommended env: {RECOMMENDED_ENV}",
    ]


def ceiling_line(record: Mapping[str, object]) -> str:
    """The line for one batched-matmul ceiling measurement."""
    n, size = record["n"], record["size"]
    return (
        f"ceiling: torch.bmm [{n}, {size}, {size}] @ [{n}, {size}, {size}] {record['dtype']}: "
        f"{record['gflops']:.1f} GFLOP/s"
    )


def column_header() -> str:
    """The column titles, aligned as the rows are."""
    return " ".join(f"{title:{align}{width}}" for title, width, align in COLUMNS)


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def row(record: Mapping[str, object]) -> str:
    """One table row: the case, then its measurements or why it was not measured."""
    case = [record[name] for name in ("rule", "form", "mode", "B", "T", "H", "K")]
    cells = [
        f"{value:{align}{width}}"
        for value, (_, width, align) in zip(case, COLUMNS[:7], strict=True)
    ]
    if record["status"] != "ok":
        return " ".join(cells) + f"  {record['status']} ({record['reason']})"
    peak = record["peak_mem_bytes"]
    measured = [
        f"{record['time_s'] * 1e3:.2f}",
        si(record["tokens_per_s"]),
        _fmt(record["gflops"], ".1f"),
        _fmt(record["pct_ceil"], ".1f"),
        _fmt(None if peak is None else peak / 2**20, ".1f"),
    ]
    cells += [
        f"{value:>{width}}" for value, (_, width, _) in zip(measured, COLUMNS[7:], strict=True)
    ]
    return " ".join(cells)
