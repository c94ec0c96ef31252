"""A checkpoint is read with ``weights_only=True``: one that holds code is refused and its payload
never runs; a corrupt one is one clear error; a real one still resumes exactly."""

from __future__ import annotations

import os
import shlex
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


@pytest.mark.parametrize("command", [["eval"], ["generate", "--prompt", "ab"], ["train"]])
def test_every_command_refuses_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: list[str]
) -> None:
    run, marker = _crafted_run(tmp_path)
    capsys.readouterr()
    if command == ["train"]:
        argv = ["train", "copy-delta", "--out", str(run), "--resume", "--train.steps=4"]
    else:
        argv = [command[0], str(run), *command[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fwp: error: checkpoint") and "refused" in err
    assert not marker.exists()


def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="corrupt or not a checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
