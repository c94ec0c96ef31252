"""A checkpoint is read with ``weights_only=True``: one that holds code is refused and its payload
never runs; a corrupt one is one clear error; a real one still resumes exactly."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fastweights.cli import main
from fastweights.train.loop import CHECKPOINT, load_checkpoint

SHORT = ["--train.steps=2", "--train.eval_every=2", "--train.batch_size=4", "--model.d_model=16"]


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: the code a crafted checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return Path.touch, (self.marker,)


class _ShellPayload:
    """Unpickling this calls ``os.system("touch marker")``: torch blocks the os module outright,
    with other words than for a global it merely does not allow."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _crafted_run(tmp_path: Path, payload: type = _Payload) -> tuple[Path, Path]:
    """A real run whose checkpoint is replaced by one that carries the payload."""
    run, marker = tmp_path / "run", tmp_path / "payload-ran"
    assert main(["train", "copy-delta", "--out", str(run), *SHORT]) == 0
    state = torch.load(run / CHECKPOINT, weights_only=True)
    torch.save({**state, "extra": payload(marker)}, run / CHECKPOINT)
    return run, marker


@pytest.mark.parametrize(
    ("payload", "named"), [(_Payload, "getattr"), (_ShellPayload, r"(posix|nt)\.system")]
)
def test_a_crafted_checkpoint_is_refused_and_its_payload_never_runs(
    tmp_path: Path, payload: type, named: str
) -> None:
    run, marker = _crafted_run(tmp_path, payload)
    with pytest.raises(ValueError, match=rf"refused: it names {named}, .* could run code"):
        load_checkpoint(run / CHECKPOINT)
    assert not marker.exists()
    torch.load(run / CHECKPOINT, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


def _argv(command: str, run: Path, tmp_path: Path) -> list[str]:
    """``fwp COMMAND`` opening the run (``train`` resumes it)."""
    return {
        "eval": ["eval", str(run)],
        "generate": ["generate", str(run), "--prompt", "ab"],
        "inspect": ["inspect", str(run), "--out", str(tmp_path / "report.html")],
        "train": [
            "train",
            "copy-delta",
            "--out",
            str(run),
            "--resume",
            "--train.steps=4",
            *SHORT[1:],
        ],
    }[command]


def _one_error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("fwp: error: checkpoint")
    return captured.err


COMMANDS = ["eval", "generate", "inspect", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    run, marker = _crafted_run(tmp_path)
    err = _one_error_line(capsys, _argv(command, run, tmp_path))
    assert "refused: it names getattr" in err and "could run code" in err
    assert not marker.exists()
    assert not (tmp_path / "report.html").exists()


def test_the_fwp_process_refuses_it_in_one_line(tmp_path: Path) -> None:
    run, marker = _crafted_run(tmp_path, _ShellPayload)
    done = subprocess.run(
        [sys.executable, "-m", "fastweights.cli", "eval", str(run)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "refused: it names" in done.stderr
    assert not marker.exists()


def _real_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert main(["train", "copy-delta", "--out", str(run), *SHORT]) == 0
    return run


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "damage",
    [_truncated, lambda data: data[:-10], lambda data: b"", lambda data: b"not a checkpoint"],
    ids=["half", "tail-cut", "empty", "text"],
)
def test_a_corrupt_or_truncated_checkpoint_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, damage: Callable[[bytes], bytes]
) -> None:
    run = _real_run(tmp_path)
    path = run / CHECKPOINT
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match="is corrupt, truncated or not a checkpoint: ") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
    for command in ("eval", "train"):
        assert "corrupt, truncated" in _one_error_line(capsys, _argv(command, run, tmp_path))


def test_a_missing_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_checkpoint_without_a_runs_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT
    torch.save({"model": {}, "step": 3}, path)
    with pytest.raises(ValueError, match=r"lacks \['optimizer', 'generator'\]"):
        load_checkpoint(path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="not a run's checkpoint"):
        load_checkpoint(path)
    torch.save({"model": {}, "optimizer": {}, "generator": torch.zeros(3), "step": 3}, path)
    with pytest.raises(ValueError, match="'generator' is not a generator state"):
        load_checkpoint(path)


@pytest.mark.parametrize("command", ["eval", "train"])
def test_another_models_checkpoint_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    run, other = _real_run(tmp_path), tmp_path / "other"
    assert main(["train", "copy-delta", "--out", str(other), *SHORT[:-1], "--model.d_model=8"]) == 0
    (other / CHECKPOINT).replace(run / CHECKPOINT)
    err = _one_error_line(capsys, _argv(command, run, tmp_path))
    assert "does not fit" in err and "size mismatch" in err


def test_a_real_checkpoint_holds_only_tensors_and_plain_data(tmp_path: Path) -> None:
    state = load_checkpoint(_real_run(tmp_path) / CHECKPOINT)
    assert state["generator"].dtype == torch.uint8 and state["step"] == 2

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (torch.Tensor, bool, int, float, str))

    assert plain(state)
