"""The kernel fault scan (``fastweights.bench.kernel_faults``): its restart logic with a fake
worker, its case list, and one real scan through the interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest


def _fake_worker(outcomes: dict[int, str], n_cases: int, started: list[int]):
    """A worker that runs cases in order: "ok", "failed" (a record, then exit) or "dies" (no
    record, exit)."""

    def run_from(start: int, seconds: float) -> tuple[list[dict[str, Any]], str]:
        started.append(start)
        records = []
        for case in range(start, n_cases):
            status = outcomes.get(case, "ok")
            if status == "dies":
                return records, "Fatal Python error: Aborted"
            records.append({"case": case, "status": status})
            if status == "failed":
                return records, ""
        return records, ""

    return run_from


def test_scan_restarts_after_a_failure_and_after_a_death(kernel_device) -> None:
    from fastweights.bench.kernel_faults import scan

    started: list[int] = []
    runner = _fake_worker({2: "dies", 4: "failed"}, 7, started)
    records = scan(7, runner, budget_s=60)
    assert [r["status"] for r in records] == ["ok", "ok", "died", "ok", "failed", "ok", "ok"]
    assert [r["case"] for r in records] == list(range(7))
    assert "Aborted" in records[2]["message"]
    assert started == [0, 3, 5]


def test_scan_marks_cases_past_the_budget_not_run(kernel_device) -> None:
    from fastweights.bench.kernel_faults import scan

    def one_case(start: int, seconds: float) -> tuple[list[dict[str, Any]], str]:
        return [{"case": start, "status": "failed"}], ""

    assert [r["status"] for r in scan(3, one_case, budget_s=0)] == ["not run"] * 3


def test_cases_start_each_form_with_every_kernel_at_its_first_config(kernel_device) -> None:
    from fastweights.bench.kernel_faults import KERNELS, cases

    listed = cases(["float32"], ["delta", "sum"])
    chunk = [c for c in listed if c.rule == "delta" and c.form == "triton_chunk"]
    assert chunk[0].config == 0 and all(c.config > 0 for c in chunk[1:])
    assert len(chunk) == 1 + sum(len(configs) - 1 for _, _, configs in KERNELS["triton_chunk"])
    assert {c.form for c in listed if c.rule == "sum"} == {"triton_recurrent"}


def test_a_scan_through_the_interpreter_finds_nothing_wrong(kernel_device, tmp_path) -> None:
    if kernel_device != "cpu":
        pytest.skip("on a GPU the real scan is scripts/gpu_check.sh's first step")
    out = tmp_path / "scan.jsonl"
    command = [
        sys.executable, "-m", "fastweights.bench.kernel_faults", "--B=1", "--T=20", "--H=1",
        "--D=16", "--dtypes=float32", "--rules=sum", f"--out={out}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10 and {r["status"] for r in records} == {"ok"}
    assert all(r["error"] < 1e-5 and r["machine"]["T"] == 20 for r in records)
    assert "0 failed, died or wrong" in done.stdout
