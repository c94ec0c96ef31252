"""The mixer benchmark runs end to end at a minuscule size and records what it measured."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fastweights.commands import bench_mixers as mixers


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    mixers.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_records_every_mixer_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mixers.jsonl"
    argv = ["--mixers", "delta,lstm,srwm", "--B", "1", "--T", "8", "--d-model", "8", "--heads", "2"]
    assert mixers.run(_args(*argv, "--repeats", "1", "--warmup", "0", "--out", str(out))) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["mixer"] for r in records] == ["delta", "lstm", "srwm"]
    for record in records:
        assert record["tokens_per_s"] == pytest.approx(8 / record["time_s"])
        assert record["params"] > 0 and record["machine"]["commit"]
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["srwm", "fused"] in [row[:2] for row in rows]


def test_unknown_mixer_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown \\['nonesuch'\\]"):
        mixers.run(_args("--mixers", "nonesuch"))


def test_impl_runs_rules_and_cells_in_that_form(tmp_path: Path) -> None:
    out = tmp_path / "mixers.jsonl"
    argv = ["--mixers", "delta,srwm,lstm", "--B", "1", "--T", "4", "--d-model", "8", "--heads", "2"]
    argv += ["--repeats", "1", "--warmup", "0", "--impl", "recurrent", "--out", str(out)]
    assert mixers.run(_args(*argv)) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["mixer"], r["impl"]) for r in records] == [
        ("delta", "recurrent"),
        ("srwm", "recurrent"),
    ]
