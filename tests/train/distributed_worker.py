"""Run by ``torchrun`` from ``test_distributed.py``: train, then save this rank's weights.

``python distributed_worker.py RUN_DIR PARALLEL`` (under torchrun) writes ``RUN_DIR/rank{r}.pt``.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from fastweights.models import ModelConfig
from fastweights.tasks import AssociativeRetrieval
from fastweights.train import TrainConfig, train

TASK = AssociativeRetrieval(setting="editing", n_pairs=4, n_queries=4)
MODEL = ModelConfig(mixer="delta", d_model=32, n_layers=2, n_heads=4, d_input=TASK.d_input,
                    n_out=TASK.n_out)  # fmt: skip


def config(parallel: str) -> TrainConfig:
    return TrainConfig(steps=6, batch_size=8, lr=1e-2, warmup_steps=2, eval_every=3,
                       eval_batches=1, device="cpu", parallel=parallel)  # fmt: skip


if __name__ == "__main__":
    run, parallel = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    model = train(TASK, MODEL, config(parallel), run / "run")
    if parallel == "fsdp":  # gather the shards into full tensors on every rank
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    else:
        weights = model.state_dict()
    torch.save({k: v.detach().cpu() for k, v in weights.items()}, run / f"rank{dist.get_rank()}.pt")
    dist.destroy_process_group()
