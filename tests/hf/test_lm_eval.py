"""``lm_eval --model hf`` on an exported tiny model and the local last-word task: it runs, no
download, and its numbers are the model's own log-likelihoods of the targets."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="transformers not installed (the hf extra)")
pytest.importorskip("lm_eval", reason="lm-eval not installed (the lm-eval extra)")

from fastweights.cli import main
from fastweights.hf.lm_eval_task import lastword_documents, write_lastword_task
from fastweights.train.run_dir import load_run

LIMIT = 8


def test_the_task_is_last_words_of_the_test_text(tmp_path: Path) -> None:
    text = "A.\nthe cat sat on the mat, and then it slept.\n\nB.\nshort one."
    docs = lastword_documents(text, min_words=10)
    assert docs == [{"context": "A.\nthe cat sat on the mat, and then it", "target": " slept"}]
    yaml = write_lastword_task(tmp_path)
    lines = (tmp_path / "fwp_lastword.jsonl").read_text().splitlines()
    assert len(lines) > 100 and str(tmp_path / "fwp_lastword.jsonl") in yaml.read_text()
    doc = json.loads(lines[0])
    assert doc["target"][0].isspace() and doc["target"][1:].isalpha()


@pytest.mark.slow
def test_lm_eval_runs_the_exported_model_on_the_local_task(tmp_path: Path) -> None:
    run, out, tasks = tmp_path / "run", tmp_path / "hf", tmp_path / "tasks"
    train = ["train", "charlm-delta", "--out", str(run), "--train.steps=3", "--train.eval_every=3",
             "--train.final_eval=false", "--model.d_model=32", "--model.n_layers=1"]  # fmt: skip
    assert main(train) == 0
    assert main(["export", str(run), "--hf", str(out), "--lm-eval-task", str(tasks)]) == 0
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                        "HF_HOME": str(tmp_path / "hf_home")}  # fmt: skip
    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
               f"pretrained={out},trust_remote_code=True", "--include_path", str(tasks),
               "--tasks", "fwp_lastword", "--device", "cpu", "--batch_size", "4",
               "--limit", str(LIMIT), "--output_path", str(tmp_path / "results")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fwp_lastword" in done.stdout
    results = json.loads(next((tmp_path / "results").rglob("results_*.json")).read_text())
    scores = results["results"]["fwp_lastword"]
    # the same numbers from the run's own model
    task, model, _ = load_run(run)
    docs = [json.loads(line) for line in (tasks / "fwp_lastword.jsonl").open()][:LIMIT]
    lls, greedy = [], []
    with torch.no_grad():
        for doc in docs:
            context, target = task.encode(doc["context"]), task.encode(doc["target"])
            x = torch.cat([context, target])[None, :-1]
            logp = model(x)[0].log_softmax(-1)[0, -len(target) :]  # [len(target), V]
            lls.append(float(logp.gather(1, target[:, None]).sum()))
            greedy.append(bool((logp.argmax(-1) == target).all()))
    assert scores["acc,none"] == pytest.approx(sum(greedy) / LIMIT)
    perplexity = math.exp(-sum(lls) / LIMIT)
    assert scores["perplexity,none"] == pytest.approx(perplexity, rel=1e-4)
