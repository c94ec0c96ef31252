"""The ops benchmark end to end at minuscule sizes: records, memory method, options, summary."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from fastweights.bench import table
from fastweights.bench.cases import Case, sdpa_case
from fastweights.bench.measure import ENV_VARS, machine_info, peak_memory
from fastweights.bench.presets import issue2_cases, issue2_summary
from fastweights.bench.runner import CEILING_N, Settings, run_cases
from fastweights.commands import bench_ops as ops

CPU = torch.device("cpu")


def _settings(max_seconds: float = 60.0) -> Settings:
    return Settings(
        repeats=1, warmup=0, max_seconds=max_seconds, device=CPU, dtype=torch.float32, seed=0
    )


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ops.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_sdpa_records_end_to_end() -> None:
    cases = [sdpa_case("fwd", 1, 16, 2, 8), sdpa_case("fwdbwd", 1, 16, 2, 8)]
    emitted: list[dict] = []
    records = run_cases(cases, _settings(), emitted.append, machine_info(CPU))

    assert emitted == records
    assert [r["kind"] for r in records] == ["ceiling"] * len(CEILING_N) + ["op", "op"]
    assert records[0]["n"] == 2048 and records[0]["gflops"] > 0
    for record, case in zip(records[len(CEILING_N) :], cases, strict=True):
        assert record["status"] == "ok"
        assert (record["rule"], record["mode"], record["T"]) == ("sdpa", case.mode, 16)
        assert record["time_s"] > 0 and len(record["times_s"]) == 1
        assert record["tokens_per_s"] == pytest.approx(16 / record["time_s"])
        assert record["flops"] == case.flops
        assert record["gflops"] == pytest.approx(case.flops / record["time_s"] / 1e9)
        assert record["ceiling_gflops"] > 0  # measured again before the case
        assert record["pct_ceil"] == pytest.approx(
            100 * record["gflops"] / record["ceiling_gflops"]
        )
        assert record["peak_mem_method"] in ("cpu-vmhwm", "unavailable")
        assert (record["peak_mem_bytes"] is None) == (record["peak_mem_method"] == "unavailable")
        machine = record["machine"]
        assert machine["torch"] == torch.__version__
        assert machine["threads"] == torch.get_num_threads()
        assert set(machine["env"]) == set(ENV_VARS) and machine["commit"]
        assert record["dtype"] == "float32" and record["run_id"] == records[0]["run_id"]
    fwd, fwdbwd = records[len(CEILING_N) :]
    assert fwdbwd["flops"] == 7 * fwd["flops"] // 2  # fwd + 2.5 × fwd


def test_too_slow_case_is_recorded_as_skipped() -> None:
    records = run_cases([sdpa_case("fwd", 1, 16, 2, 8)], _settings(1e-12), lambda r: None, {})
    op = records[-1]
    assert op["status"] == "skipped" and "too slow" in op["reason"] and "time_s" not in op
    assert "skipped (too slow" in table.row(op)


def test_peak_memory_sees_a_64_mib_tensor() -> None:
    def allocate() -> None:
        torch.ones(16 * 2**20)  # 64 MiB, every page written

    peak, method = peak_memory(allocate, CPU)
    if method == "unavailable":
        pytest.skip("no /proc/self/clear_refs here")
    assert 62 * 2**20 < peak < 72 * 2**20


def test_run_appends_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ops.jsonl"
    argv = ["--rules", "sum", "--forms", "recurrent", "--T", "16", "--B", "1", "--H", "1"]
    argv += ["--D", "8", "--repeats", "1", "--warmup", "0", "--no-sdpa", "--out", str(out)]
    assert ops.run(_args(*argv)) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kind"], r.get("mode")) for r in lines] == [
        *[("ceiling", None)] * len(CEILING_N),
        ("op", "fwd"),
        ("op", "fwdbwd"),
    ]
    first_op = lines[len(CEILING_N)]
    assert first_op["rule"] == "sum" and first_op["form"] == "recurrent"
    assert first_op["chunk_size"] is None  # it does not apply to the recurrent form
    printed = capsys.readouterr().out
    assert "torch threads" in printed and "sum         recurrent fwdbwd" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--T", "0"], "--T must be >= 1"),
        (["--T", "abc"], "--T must be an integer"),
        (["--mode", "fast"], "--mode: unknown"),
        (["--rules", "nope"], "--rules: unknown"),
        (["--dtype", "int8"], "--dtype must be one of"),
        (["--max-seconds", "-1"], "--max-seconds must be > 0"),
        (["--preset", "issue3"], "--preset must be one of"),
        (["--preset", "issue2", "--T", "16"], "fixes the grid; drop --T"),
    ],
)
def test_bad_options_raise_value_error(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ops.plan(_args(*argv))


def _fake(case: Case, time_s: float, **extra: float) -> dict:
    return {"kind": "op", "status": "ok", "time_s": time_s, **vars(case), **extra}


def test_issue2_summary_finds_speed_up_and_crossover() -> None:
    cases = issue2_cases()
    assert len(cases) == 18 and all(case.mode == "fwdbwd" for case in cases)
    records = []
    for case in cases:
        if case.rule == "sdpa":
            records.append(_fake(case, 1e-3 * case.T / 1024))  # slower than chunk from T=2048
        elif case.form == "recurrent":
            records.append(_fake(case, 3.0))
        else:
            time_s = 1.5e-3 if case.B == 1 else 0.4
            records.append(_fake(case, time_s, pct_ceil=30.0, gflops=45.0))
    records[-1]["peak_mem_bytes"] = 2 * 10**8
    text = "\n".join(issue2_summary(records))
    assert "45.0 GFLOP/s, 30.0% of the bmm ceiling" in text
    assert "chunk speed-up 2000.00x" in text  # 3.0 s / 1.5 ms
    assert "smallest T where chunk is faster: T=2048" in text
    assert "peak memory 0.200 GB" in text and "would take 4.29 GB" in text
