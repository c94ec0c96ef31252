"""The ``fwp`` entry point: version, argument errors, and library errors as one line."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import types

import pytest

from fastweights import __version__, cli


@pytest.fixture
def fake_bench_ops(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Stand in for ``fastweights.commands.bench_ops``, so the real benchmark does not run."""
    module = types.ModuleType("fastweights.commands.bench_ops")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--quick", action="store_true")

    def run(args: argparse.Namespace) -> int:
        module.seen = args
        return 0

    module.add_arguments = add_arguments
    module.run = run
    monkeypatch.setitem(sys.modules, "fastweights.commands.bench_ops", module)
    return module


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fwp {__version__}"


def test_module_entry_point_prints_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fastweights.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fwp {__version__}"


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["bench"], ["bench", "nope"]])
def test_bad_command_exits_nonzero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_bench_ops_passes_its_options_to_run(fake_bench_ops: types.ModuleType) -> None:
    assert cli.main(["bench", "ops", "--quick"]) == 0
    assert fake_bench_ops.seen.quick is True


def test_unknown_option_of_a_command_exits_2(fake_bench_ops: types.ModuleType) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "ops", "--no-such-option"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("unknown rule 'foo'; known: delta"), "unknown rule 'foo'; known: delta"),
        (TypeError("expected a float tensor,\n got int64"), "expected a float tensor, got int64"),
        (FileNotFoundError("no such file: x.npz"), "no such file: x.npz"),
        (KeyError("missing key"), "missing key"),
    ],
)
def test_library_error_is_one_line_and_exit_2(
    fake_bench_ops: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    expected: str,
) -> None:
    def failing_run(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(fake_bench_ops, "run", failing_run)
    assert cli.main(["bench", "ops"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines == [f"fwp: error: {expected}"]
    assert "Traceback" not in captured.err


def test_internal_bug_is_not_hidden(
    fake_bench_ops: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def buggy_run(args: argparse.Namespace) -> int:
        raise RuntimeError("internal invariant broken")

    monkeypatch.setattr(fake_bench_ops, "run", buggy_run)
    with pytest.raises(RuntimeError, match="internal invariant broken"):
        cli.main(["bench", "ops"])


@pytest.mark.parametrize("path", list(cli.COMMANDS), ids=" ".join)
def test_every_command_module_has_the_subcommand_interface(path: tuple[str, ...]) -> None:
    module_name, help_text = cli.COMMANDS[path]
    module = importlib.import_module(module_name)
    assert help_text
    assert callable(module.add_arguments)
    assert callable(module.run)
