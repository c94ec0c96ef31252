"""``fwp inspect``: end to end on tiny runs trained for two steps, and its input handling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

pytest.importorskip("matplotlib", reason="needs matplotlib: pip install fastweights[plots]")

from fastweights.analysis import Recording
from fastweights.cli import main
from fastweights.commands.inspect import (
    answers,
    encode_input,
    evaluation_sample,
    step_tokens,
)
from fastweights.models import ModelConfig
from fastweights.tasks import AssociativeRetrieval, Copy, FormalLanguage
from fastweights.train.loop import TrainConfig, train

TINY = {"d_model": 8, "n_heads": 2, "n_layers": 2, "mlp_ratio": 0}
SHORT = TrainConfig(steps=2, batch_size=4, eval_every=2, eval_batches=1, warmup_steps=1)
FAST = ["--pictures", "weights,beta", "--no-gif"]


def _run(task, directory: Path) -> Path:
    io = {"vocab_size": task.vocab_size} if task.vocab_size else {"d_input": task.d_input}
    train(task, ModelConfig(mixer="delta", n_out=task.n_out, **io, **TINY), SHORT, directory)
    return directory


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory) -> Path:
    task = AssociativeRetrieval(setting="editing", n_pairs=4, n_queries=2)
    return _run(task, tmp_path_factory.mktemp("runs") / "ar")


@pytest.fixture(scope="module")
def dyck_run(tmp_path_factory) -> Path:
    return _run(FormalLanguage("dyck1", max_length=8), tmp_path_factory.mktemp("runs") / "dyck")


def test_inspect_reports_a_sequence_of_the_evaluation_data(
    retrieval_run: Path, tmp_path: Path, capsys
) -> None:
    out, saved = tmp_path / "report.html", tmp_path / "rec.npz"
    code = main(
        [
            "inspect",
            str(retrieval_run),
            "--out",
            str(out),
            "--sample",
            "5",
            "--layers",
            "1",
            "--every",
            "3",
            "--recording",
            str(saved),
            "--pictures",
            "traffic",
        ]
    )
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert 'id="layer-1"' in text and 'id="layer-0"' not in text
    assert 'id="layer-1-traffic"' in text and 'id="layer-1-gif"' in text
    assert 'id="layer-1-weights"' not in text
    assert 'id="layer-1-attention"' not in text  # the equivalent attention needs every step
    recording = Recording.load(saved)
    assert list(recording.layers) == [1]
    assert recording.layers[1].steps.tolist() == [0, 3, 6, 9]  # every 3rd, and the last
    # sequence 5 is element 1 of the second evaluation batch (batch size 4, seed + 1)
    generator = torch.Generator().manual_seed(SHORT.seed + 1)
    task = AssociativeRetrieval(setting="editing", n_pairs=4, n_queries=2)
    task.sample(4, generator)
    expected = task.sample(4, generator)
    assert torch.equal(torch.from_numpy(recording.inputs), expected.x[1])
    tokens = step_tokens(task, expected.x[1])
    assert recording.tokens == tokens and tokens[-1].startswith("?") and "=" in tokens[0]
    assert f'<div class="t">9</div><div>{tokens[-1]}</div>' in text
    assert recording.meta["task"] == "AssociativeRetrieval"


def test_inspect_encodes_a_users_input(
    retrieval_run: Path, dyck_run: Path, tmp_path: Path, capsys
) -> None:
    out, saved = tmp_path / "r.html", tmp_path / "r.npz"
    assert (
        main(
            [
                "inspect",
                str(retrieval_run),
                "--out",
                str(out),
                "--input",
                "0=1 2=3 0=2 ?0",
                "--layers",
                "0",
                "--recording",
                str(saved),
                *FAST,
            ]
        )
        == 0
    )
    assert Recording.load(saved).tokens == ["0=1", "2=3", "0=2", "?0"]
    assert (
        main(
            [
                "inspect",
                str(dyck_run),
                "--out",
                str(out),
                "--input",
                "(()())",
                "--recording",
                str(saved),
                *FAST,
            ]
        )
        == 0
    )
    recording = Recording.load(saved)
    assert recording.tokens == list("(()())") and sorted(recording.layers) == [0, 1]
    assert 'title="model">→{' in out.read_text(encoding="utf-8")  # the allowed-next set
    capsys.readouterr()
    assert main(["inspect", str(dyck_run), "--out", str(out), "--input", "(x)"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fwp: error: FormalLanguage symbols are ['(', ')']; got ['x']"
    )


def test_inspect_errors_are_one_line(retrieval_run: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "r.html")
    cases = {
        ("inspect", str(tmp_path / "nowhere"), "--out", out): "not a run directory",
        ("inspect", str(retrieval_run), "--out", str(tmp_path / "r.txt")): "an .html file",
        ("inspect", str(retrieval_run), "--out", str(tmp_path / "no" / "r.html")): "not exist",
        ("inspect", str(retrieval_run), "--out", out, "--layers", "7"): "layers must be",
        ("inspect", str(retrieval_run), "--out", out, "--sample", "-1"): "--sample must be",
        ("inspect", str(retrieval_run), "--out", out, "--input", "3"): "'key=value'",
        ("inspect", str(retrieval_run), "--out", out, "--pictures", "nope"): "unknown pictures",
    }
    for argv, message in cases.items():
        assert main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("fwp: error:") and message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):  # argparse: --input and --sample exclude each other
        main(["inspect", str(retrieval_run), "--out", out, "--input", "?1", "--sample", "1"])


def test_encode_input_follows_the_tasks_vocabulary() -> None:
    copy = Copy(n_symbols=4)
    assert encode_input(copy, "1 2 5").tolist() == [1, 2, 5]
    with pytest.raises(ValueError, match="no text encoding"):
        encode_input(copy, "a b")
    with pytest.raises(ValueError, match=r"in 0\.\.5"):
        encode_input(copy, "6")

    @dataclasses.dataclass(frozen=True)
    class Chars:
        vocab_size: int = 128
        d_input: int = 0
        n_out: int = 128

        def encode(self, text: str) -> list[int]:
            return [ord(c) for c in text]

        def decode(self, ids: list[int]) -> str:
            return "".join(chr(i) for i in ids)

    assert encode_input(Chars(), "hi").tolist() == [104, 105]
    assert step_tokens(Chars(), encode_input(Chars(), "a b\n")) == ["a", "␣", "b", "⏎"]

    @dataclasses.dataclass(frozen=True)
    class Vectors:
        vocab_size: int = 0
        d_input: int = 3
        n_out: int = 2

    with pytest.raises(ValueError, match="reads vectors and has no text encoding"):
        encode_input(Vectors(), "1 2")
    ar = AssociativeRetrieval(setting="editing", n_pairs=3)
    x = encode_input(ar, "2=1 ?2")
    assert x.tolist() == [[0, 0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0, 1]]
    with pytest.raises(ValueError, match=r"keys are 0\.\.2"):
        encode_input(ar, "3=1")
    with pytest.raises(ValueError, match="empty"):
        encode_input(ar, "  ")


def test_evaluation_samples_drop_padding_and_answers_read_the_targets() -> None:
    task = FormalLanguage("dyck1", max_length=12)
    batch = task.sample(3, torch.Generator().manual_seed(1))
    for index in range(3):
        one = evaluation_sample(task, 3, 0, index)
        length = int(batch.mask[index].sum())
        assert torch.equal(one.x, batch.x[index, :length]) and (one.x != task.pad_id).all()
    one = evaluation_sample(task, 3, 0, 0)
    logits = torch.where(one.y > 0.5, 5.0, -5.0)  # a perfect model's logits
    result = answers(task, one, logits)
    assert result["targets"] == result["predictions"]
    assert result["targets"][0] == "{(,)}"  # after "(": open or close, not the end
