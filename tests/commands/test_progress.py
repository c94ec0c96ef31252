"""The progress display: a redrawn bar on a terminal, only evaluation lines otherwise."""

from __future__ import annotations

import io

from fastweights.commands.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ENTRIES = [
    {"step": 1, "loss": 2.0, "lr": 1e-3, "tokens": 100},
    {"step": 2, "loss": 1.5, "lr": 1e-3, "tokens": 100, "eval_loss": 1.4, "eval_accuracy": 0.5},
    {"step": 3, "loss": 1.0, "lr": 1e-3, "tokens": 100},
    {"step": 4, "loss": 0.5, "lr": 1e-3, "tokens": 100, "eval_loss": 0.4, "eval_accuracy": 0.9,
     "eval_bits_per_char": 0.58},
]  # fmt: skip


def test_a_pipe_gets_one_plain_line_per_evaluation() -> None:
    stream = io.StringIO()
    progress = Progress(4, stream)
    for entry in ENTRIES:
        progress(entry)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue() and "\033" not in stream.getvalue()
    assert lines[0].startswith("step      2  loss 1.5000  eval loss 1.4000  eval accuracy 0.500")
    assert "bits/char 0.580" in lines[1] and "tok/s" in lines[1]
    assert progress.tokens == 400


def test_a_terminal_gets_a_redrawn_bar() -> None:
    stream = _Terminal()
    progress = Progress(4, stream)
    for entry in ENTRIES[:3]:
        progress(entry)
    text = stream.getvalue()
    assert text.count("\r\033[K[") == 3  # the bar, redrawn every step
    assert "3/4  loss 1.0000  acc 0.500" in text  # the last evaluation's accuracy stays on it
    assert "\r\033[Kstep      2" in text  # the evaluation line replaces the bar, then stays
