"""What ``fwp train`` shows while it trains: a progress bar on a terminal, log lines otherwise.

On an interactive terminal one line is redrawn every step (bar, loss, last eval accuracy,
tokens/s) and each evaluation leaves a line behind; when the output is a file or a pipe, only
the evaluation lines are written, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

BAR_WIDTH = 24


class Progress:
    """A ``log`` callback for ``fastweights.train.train``: ``Progress(steps)(entry)``."""

    def __init__(self, steps: int, stream: TextIO | None = None) -> None:
        self.steps = steps
        self.stream = stream if stream is not None else sys.stdout
        self.interactive = self.stream.isatty()
        self.start = time.perf_counter()
        self.tokens = 0  # seen since this process started (a resumed run counts afresh)
        self.accuracy: float | None = None

    def __call__(self, entry: dict[str, Any]) -> None:
        self.tokens += entry["tokens"]
        elapsed = time.perf_counter() - self.start
        speed = f"{self.tokens / max(elapsed, 1e-9) / 1000:.1f}k tok/s"
        if "eval_loss" in entry:
            self.accuracy = entry["eval_accuracy"]
            line = (
                f"step {entry['step']:>6}  loss {entry['loss']:.4f}  "
                f"eval loss {entry['eval_loss']:.4f}  eval accuracy {entry['eval_accuracy']:.3f}"
            )
            if "eval_bits_per_char" in entry:
                line += f"  bits/char {entry['eval_bits_per_char']:.3f}"
            if "eval_perplexity" in entry:
                line += f"  perplexity {entry['eval_perplexity']:.1f}"
            line += f"  {speed}  {elapsed:.0f} s"
            clear = "\r\033[K" if self.interactive else ""
            print(clear + line, file=self.stream, flush=True)
        if self.interactive and entry["step"] < self.steps:
            done = int(BAR_WIDTH * entry["step"] / self.steps)
            bar = "#" * done + "." * (BAR_WIDTH - done)
            accuracy = "" if self.accuracy is None else f"  acc {self.accuracy:.3f}"
            self.stream.write(
                f"\r\033[K[{bar}] {entry['step']}/{self.steps}  loss {entry['loss']:.4f}"
                f"{accuracy}  {speed}"
            )
            self.stream.flush()
