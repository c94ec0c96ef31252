"""``fwp generate``: continues text with a character-level LM run, printing each token as it
comes; sampling options and ``--eos``; other runs and bad options fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastweights.cli import main
from fastweights.train.run_dir import load_run

SHORT = ["--train.steps=2", "--train.eval_every=2", "--train.batch_size=4", "--model.d_model=16"]


def test_a_run_without_text_encoding_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "copy-delta", "--out", str(tmp_path / "run"), *SHORT]) == 0
    assert main(["generate", str(tmp_path / "run"), "--prompt", "hello"]) == 2
    assert "has no text encoding" in capsys.readouterr().err


def test_a_missing_run_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", str(tmp_path / "nowhere"), "--prompt", "x"]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = str(tmp_path_factory.mktemp("generate") / "lm")
    assert main(["train", "charlm-delta", "--out", run, "--task.seq_len=16", *SHORT]) == 0
    return run


def test_a_language_model_run_continues_the_prompt(
    lm_run: str, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    argv = ["generate", lm_run, "--prompt", "ROMEO:", "--tokens", "12", "--seed", "3"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) == len("ROMEO:") + 12
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # the same seed, the same text
    assert main(["generate", lm_run, "--prompt", ""]) == 2


class Terminal:
    """A stdout that keeps what each flush shows."""

    def __init__(self) -> None:
        self.pending, self.shown = "", []

    def write(self, text: str) -> int:
        self.pending += text
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.shown.append(self.pending)
        self.pending = ""


def test_tokens_are_printed_and_flushed_as_they_come(
    lm_run: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["generate", lm_run, "--prompt", "ROMEO:", "--tokens", "12", "--seed", "4"]
    assert main(argv) == 0
    whole = capsys.readouterr().out
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(argv) == 0
    assert terminal.pending == "" and "".join(terminal.shown) == whole
    assert terminal.shown[0] == "ROMEO:" and terminal.shown[-1].endswith("\n")
    assert len(terminal.shown) >= 10  # the prompt, then (nearly) one flush per character


def _greedy(run: str, capsys: pytest.CaptureFixture, *options: str) -> str:
    capsys.readouterr()
    argv = ["generate", run, "--prompt", "ROMEO:", "--tokens", "16", *options]
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_top_k_one_is_greedy_and_eos_stops(lm_run: str, capsys: pytest.CaptureFixture) -> None:
    greedy = _greedy(lm_run, capsys, "--temperature", "0")
    assert _greedy(lm_run, capsys, "--top-k", "1", "--seed", "9") == greedy
    assert _greedy(lm_run, capsys, "--top-p", "1e-9", "--temperature", "2") == greedy
    new = greedy[len("ROMEO:") : -1]
    eos = next(c for c in new if c.isalpha() or c in " .,:;")
    expected = "ROMEO:" + new[: new.index(eos) + 1] + "\n"
    assert _greedy(lm_run, capsys, "--temperature", "0", "--eos", eos) == expected
    task = load_run(lm_run)[0]
    by_id = str(int(task.encode(eos)[0]))
    assert _greedy(lm_run, capsys, "--temperature", "0", "--eos", by_id) == expected


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--top-p", "1.5"], "top_p must be in (0, 1]"),
        (["--top-k", "0"], "top_k must be an integer >= 1"),
        (["--tokens", "-2"], "max_new_tokens"),
        (["--eos", "ab"], "encodes to 2 tokens"),
        (["--temperature", "0", "--top-k", "3"], "greedy"),
    ],
)
def test_bad_sampling_options_are_one_clear_line(
    lm_run: str, capsys: pytest.CaptureFixture, option: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(["generate", lm_run, "--prompt", "ab", *option]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err and captured.out == ""
