"""Two CPU processes under torchrun (gloo): both ranks end with identical weights, equal to one
process trained on the same global batches; DDP and FSDP2 alike; rank 0 alone writes the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from distributed_worker import MODEL, TASK, config  # beside this file (pytest prepends it)

from fastweights.train import train

WORKER = Path(__file__).with_name("distributed_worker.py")
pytestmark = pytest.mark.slow


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--standalone", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_hold_identical_weights(tmp_path: Path, parallel: str) -> None:
    _torchrun(str(WORKER), str(tmp_path), parallel)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # the same global batches in one process give the same weights (every shard has the same
    # number of scored positions here, so the averaged gradients agree)
    single = train(TASK, MODEL, config(parallel), tmp_path / "single").state_dict()
    for name in rank0:
        torch.testing.assert_close(
            rank0[name], single[name], rtol=1e-3, atol=2e-4
        )  # Adam amplifies rounding
    # the checkpoint (written by rank 0 alone) holds full, unsharded weights
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    for name in rank0:
        torch.testing.assert_close(saved["model"][name], rank0[name])
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert steps == list(range(1, 7))  # one record per step: rank 1 wrote none


def test_fwp_train_runs_under_torchrun(tmp_path: Path) -> None:
    result = _torchrun("-m", "fastweights.cli", "train", "ar-editing-delta", "--out",
                       str(tmp_path / "run"), "--train.steps=4", "--train.eval_every=2",
                       "--train.batch_size=8", "--train.eval_batches=1", "--train.device=cpu",
                       "--model.d_model=32")  # fmt: skip
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert result.stdout.count("step      4") == 1  # rank 0 alone logs
