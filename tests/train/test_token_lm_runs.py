"""Subword runs end to end: packed documents or carried state, the tokenizer kept in the run
(relative, so the run moves whole), bits per token and perplexity, TensorBoard beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tokenizers", reason="the tokenizers package (the lm extra) is not installed")

from fastweights.cli import main
from fastweights.train.run_dir import load_run

TEXT = "".join(f"scene {i}.\nthe fast weights of scene {i % 7} are written and read.\n\n\n\n"
               for i in range(300))  # fmt: skip
TINY = ["--task.max_vocab=300", "--task.seq_len=16", "--model.d_model=16", "--model.n_layers=1",
        "--train.steps=2", "--train.eval_every=2", "--train.batch_size=4"]  # fmt: skip


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    file = tmp_path / "corpus.txt"
    file.write_text(TEXT, encoding="utf-8")
    return file


def test_a_packed_run_keeps_its_tokenizer_and_reports_tokens(
    tmp_path: Path, text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = ["train", "lm-bpe-deltanet-packed", "--out", str(run), f"--task.path={text_file}"]
    assert main([*args, *TINY]) == 0
    task_config = json.loads((run / "config.json").read_text())["task"]
    assert task_config["pack"] and task_config["tokenizer"] == "tokenizer.json"
    assert len(task_config["tokenizer_sha256"]) == 64 and (run / "tokenizer.json").is_file()
    last = [json.loads(line) for line in (run / "metrics.jsonl").open()][-1]
    assert {"eval_bits_per_token", "eval_perplexity", "bpt_carried", "ppl_afresh"} <= last.keys()
    assert last["tokens"] == 4 * 16 and last["bpt_tokens"] > 100  # this step's; the split's
    moved = tmp_path / "moved"
    shutil.move(run, moved)  # the run is whole: its tokenizer travels with it
    task, _, _ = load_run(moved)
    assert task.tokenizer == str(moved / "tokenizer.json") and task.vocab_size <= 300
    capsys.readouterr()
    assert main(["eval", str(moved), "--test-split", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for kind in ("carried", "afresh"):
        assert 0 < result[f"bpt_{kind}"] < 12 and result[f"ppl_{kind}"] > 1
        assert result[f"bpc_{kind}"] == pytest.approx(
            result[f"bpt_{kind}"] * result["bpt_tokens"] / result["bpc_characters"]
        )


def test_a_carried_run_cannot_pack_and_a_bad_log_is_refused(
    tmp_path: Path, text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "lm-bpe-deltanet", "--out", str(tmp_path / "a"), f"--task.path={text_file}"]
    assert main([*args, *TINY, "--task.pack=true"]) == 2
    assert "packed TokenLM starts every document afresh" in capsys.readouterr().err
    assert main([*args, *TINY, "--train.log=wandb"]) == 2
    assert "train.log must be one of ('jsonl', 'tensorboard')" in capsys.readouterr().err


def test_tensorboard_gets_the_scalars_and_the_fast_weights(tmp_path: Path, text_file: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (the tensorboard extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    args = ["train", "lm-bpe-deltanet", "--out", str(run), f"--task.path={text_file}"]
    assert main([*args, *TINY, "--train.log=tensorboard"]) == 0
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [e.value for e in events.Scalars("loss")] == pytest.approx([r["loss"] for r in records])
    assert "bpt_carried" in tags["scalars"]
    assert {"fast_weights/block0/head0", "fast_weights/block0/head3"} <= set(tags["images"])
