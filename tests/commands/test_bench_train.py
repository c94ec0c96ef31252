"""The training-speed benchmark runs end to end at a minuscule size and records what it timed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fastweights.commands import bench_train


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_train.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.slow  # compiles a model
def test_records_eager_and_compiled_steps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "train.jsonl"
    argv = ["--mixers", "softmax", "--preset", "tiny", "--B", "1", "--T", "8", "--repeats", "2"]
    assert bench_train.run(_args(*argv, "--out", str(out))) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["mixer"] == "softmax" and len(record["times"]["compiled"]) == 2
    assert record["eager_tokens_per_s"] == pytest.approx(8 / record["eager_s"])
    assert record["compile_s"] > 0 and record["machine"]["commit"]
    assert "softmax" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--mixers", "nonesuch"], "unknown \\['nonesuch'\\]"), (["--preset", "huge"], "huge"),
     (["--T", "0"], "--T must be >= 1")],
)  # fmt: skip
def test_bad_options_are_clear_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bench_train.run(_args(*argv))
