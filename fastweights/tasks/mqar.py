"""Multi-query associative recall (MQAR), as Zoology defines it.

Arora et al. 2023, "Zoology: Measuring and Improving Recall in Efficient Language Models"
(arXiv:2312.04927); the generator follows ``_mqar`` in the official code
(``HazyResearch/zoology``, ``zoology/data/associative_recall.py``):

- keys are drawn without replacement from ``1 .. vocab_size // 2 - 1`` and values from
  ``vocab_size // 2 .. vocab_size - 1``;
- the ``num_kv_pairs`` pairs open the sequence as ``k_1 v_1 k_2 v_2 …``;
- every key is queried once: with ``space = (seq_len - 2P) // 2``, the gaps ``g_i`` are drawn
  without replacement from ``0 .. space - 1`` with ``p(g) ∝ a · (g + 1)^(a − 1)`` (``a =
  power_a``; small ``a`` favours short gaps, ``a = 1`` is uniform) and key ``i`` is placed at
  ``2P + 2 g_i``;
- the label is the value at the query key's own position (next-token prediction: the value is
  the token that should follow the query key); every other position is ignored (Zoology: -100);
- every remaining position (Zoology's zeros) holds a uniformly random token from the whole
  vocabulary when ``random_non_queries`` is True (Zoology's default).

The papers' configurations: ``(seq_len, num_kv_pairs) ∈ {(64, 4), (128, 8), (256, 16),
(512, 64)}`` with ``vocab_size = 8192``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fastweights.tasks.base import Batch, check_sample_args

ZOOLOGY_CONFIGS = ((64, 4), (128, 8), (256, 16), (512, 64))


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class MQAR:
    """Zoology's MQAR: ``num_kv_pairs`` pairs, then each key queried once at power-law gaps.

    ``x: [B, seq_len]`` int64 tokens; ``y: [B, seq_len]`` int64, the value of the key at each
    query position (0 elsewhere); ``mask: [B, seq_len]``, True at the ``num_kv_pairs`` query
    positions. ``vocab_size = n_out``.

    Zoology's checks: ``seq_len`` even, ``vocab_size > seq_len``, ``4 · num_kv_pairs <= seq_len``.
    """

    vocab_size: int = 8192
    seq_len: int = 64
    num_kv_pairs: int = 4
    power_a: float = 0.01
    random_non_queries: bool = True

    def __post_init__(self) -> None:
        _check_int("vocab_size", self.vocab_size, 4)
        _check_int("seq_len", self.seq_len, 4)
        _check_int("num_kv_pairs", self.num_kv_pairs, 1)
        if self.seq_len % 2 != 0:
            raise ValueError(f"seq_len must be even, got {self.seq_len}")
        if self.vocab_size <= self.seq_len:
            raise ValueError(
                f"vocab_size must be > seq_len, got vocab_size={self.vocab_size} <= "
                f"seq_len={self.seq_len}"
            )
        if 4 * self.num_kv_pairs > self.seq_len:
            raise ValueError(
                f"4 * num_kv_pairs must be <= seq_len, got num_kv_pairs={self.num_kv_pairs} "
                f"with seq_len={self.seq_len}"
            )
        if self.num_kv_pairs > self.vocab_size // 2 - 1:  # implied by the checks above; kept
            raise ValueError(f"num_kv_pairs={self.num_kv_pairs} exceeds the key vocabulary")
        a = self.power_a
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 < a < float("inf"):
            raise ValueError(f"power_a must be a finite number > 0, got {a!r}")
        if not isinstance(self.random_non_queries, bool):
            raise ValueError(f"random_non_queries must be a bool, got {self.random_non_queries!r}")

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.vocab_size

    def gap_probs(self) -> torch.Tensor:
        """``p(g) ∝ a · (g + 1)^(a − 1)`` over the gaps ``0 .. space - 1`` (float64)."""
        space = (self.seq_len - 2 * self.num_kv_pairs) // 2
        i = torch.arange(1, space + 1, dtype=torch.float64)
        p = self.power_a * i ** (self.power_a - 1)
        return p / p.sum()

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        b, t, n, v = batch_size, self.seq_len, self.num_kv_pairs, self.vocab_size
        g = generator
        half = v // 2
        # uniform random subsets in random order (without replacement)
        keys = 1 + torch.rand(b, half - 1, generator=g).argsort(dim=1)[:, :n]
        values = half + torch.rand(b, v - half, generator=g).argsort(dim=1)[:, :n]
        # weighted draws without replacement (successive sampling, as np.random.choice)
        p = self.gap_probs().to(torch.float32).expand(b, -1)
        gaps = torch.multinomial(p, n, replacement=False, generator=g)  # [B, P]
        qpos = 2 * n + 2 * gaps

        x = torch.zeros(b, t, dtype=torch.int64)
        x[:, 0 : 2 * n : 2] = keys
        x[:, 1 : 2 * n : 2] = values
        x.scatter_(1, qpos, keys)
        y = torch.zeros(b, t, dtype=torch.int64)
        y.scatter_(1, qpos, values)
        mask = torch.zeros(b, t, dtype=torch.bool)
        mask.scatter_(1, qpos, True)
        if self.random_non_queries:
            noise = torch.randint(v, (b, t), generator=g)
            x = torch.where(x == 0, noise, x)
        return Batch(x, y, mask)
