"""``fwp export`` without the hf extra: one line that names the extra, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fastweights.cli import main


def test_a_missing_extra_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    for name in [m for m in sys.modules if m.startswith("fastweights.hf")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["export", str(tmp_path), "--hf", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'fastweights[hf]'" in err
