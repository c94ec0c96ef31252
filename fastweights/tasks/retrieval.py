"""Associative retrieval: the capacity and editing settings of Schlag, Irie, Schmidhuber 2021.

"Linear Transformers Are Secretly Fast Weight Programmers" (arXiv:2102.11174), §6.1. The format
follows the paper's code (``ischlag/fast-weight-transformers``, ``synthetic/``):

- keys are ids from a vocabulary of ``n_keys``; values are ids from ``n_values`` and are presented
  and predicted as one-hot vectors (the paper's frozen identity value embedding);
- **capacity** (the paper's setting 1, ``replace=False``): ``n_pairs = S`` distinct keys, each
  written once with a distinct value; the paper uses ``n_keys = n_values = S``;
- **editing** (setting 2, ``replace=True``): ``2N`` writes whose keys and values are drawn with
  replacement from ``n_keys = N`` keys and ``n_values = N`` values, so keys are re-assigned; a
  query expects the value of the key's latest write;
- the paper scores ``0.5 · Σ_d (ŷ_d − y_d)²`` averaged over queries (``retrieval_loss``) and calls
  a setting solved when the eval loss is ≤ 1e-3 (with ``d_key = 64``).

The paper feeds the writes and one separate query to a single-layer model; here the writes and
``n_queries`` queries form one sequence of vectors (see ``AssociativeRetrieval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args

SETTINGS = ("capacity", "editing")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class AssociativeRetrieval:
    """Write key→value pairs, then query keys; the target is the (latest) value of each key.

    Fields:

    - ``setting``: ``"capacity"`` (``n_pairs`` distinct keys, distinct values, one write each) or
      ``"editing"`` (``2 · n_pairs`` writes, keys and values drawn with replacement);
    - ``n_pairs``: ``S`` (capacity) or ``N`` (editing);
    - ``n_keys``: the key vocabulary (default ``n_pairs``, as in the paper; capacity needs
      ``n_keys >= n_pairs``);
    - ``n_values``: the value vocabulary, also the size of the one-hot value vectors (default
      ``n_keys``, as in the paper; capacity needs ``n_values >= n_pairs``);
    - ``n_queries``: queries per sequence (default 1, as in the paper's training batches).
      Capacity queries distinct stored keys (so ``n_queries <= n_pairs``); editing queries the key
      of a uniformly drawn write position, independently per query (the paper's
      ``np.random.choice(k)``).

    A sequence has ``T = n_writes + n_queries`` steps. ``x: [B, T, n_keys + n_values + 1]``
    float32: the one-hot key, the one-hot value (zeros at a query) and a query flag (1 at a
    query). ``y: [B, T, n_values]`` float32: the one-hot latest value of the queried key at query
    steps, zeros elsewhere. ``mask: [B, T]`` is True at the query steps (the last ``n_queries``).
    """

    target_kind: ClassVar[str] = "vectors"  # y: the value vectors, regressed (the paper's loss)

    setting: str = "capacity"
    n_pairs: int = 20
    n_keys: int | None = None
    n_values: int | None = None
    n_queries: int = 1

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
        _check_int("n_pairs", self.n_pairs, 1)
        if self.n_keys is None:
            object.__setattr__(self, "n_keys", self.n_pairs)
        _check_int("n_keys", self.n_keys, 1)
        if self.n_values is None:
            object.__setattr__(self, "n_values", self.n_keys)
        _check_int("n_values", self.n_values, 1)
        _check_int("n_queries", self.n_queries, 1)
        if self.setting == "capacity":
            if self.n_keys < self.n_pairs:
                raise ValueError(
                    f"capacity needs n_keys >= n_pairs (distinct keys), got n_keys={self.n_keys} "
                    f"< n_pairs={self.n_pairs}"
                )
            if self.n_values < self.n_pairs:
                raise ValueError(
                    f"capacity needs n_values >= n_pairs (distinct values), got "
                    f"n_values={self.n_values} < n_pairs={self.n_pairs}"
                )
            if self.n_queries > self.n_pairs:
                raise ValueError(
                    f"capacity queries distinct stored keys: n_queries must be <= n_pairs, got "
                    f"n_queries={self.n_queries} > n_pairs={self.n_pairs}"
                )

    @property
    def vocab_size(self) -> int:
        return 0

    @property
    def d_input(self) -> int:
        return self.n_keys + self.n_values + 1

    @property
    def n_out(self) -> int:
        return self.n_values

    @property
    def n_writes(self) -> int:
        """Write steps: ``n_pairs`` (capacity) or ``2 · n_pairs`` (editing)."""
        return self.n_pairs if self.setting == "capacity" else 2 * self.n_pairs

    @property
    def seq_len(self) -> int:
        return self.n_writes + self.n_queries

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        b, w, nq = batch_size, self.n_writes, self.n_queries
        g = generator
        if self.setting == "capacity":
            # distinct keys and values in random order; queries: distinct write positions
            keys = torch.rand(b, self.n_keys, generator=g).argsort(dim=1)[:, :w]
            values = torch.rand(b, self.n_values, generator=g).argsort(dim=1)[:, :w]
            qpos = torch.rand(b, w, generator=g).argsort(dim=1)[:, :nq]
        else:
            keys = torch.randint(self.n_keys, (b, w), generator=g)
            values = torch.randint(self.n_values, (b, w), generator=g)
            qpos = torch.randint(w, (b, nq), generator=g)
        qkeys = keys.gather(1, qpos)  # [B, Q]
        # the latest write of each queried key
        steps = torch.arange(w).expand(b, nq, w)
        hits = keys[:, None, :] == qkeys[:, :, None]  # [B, Q, W]
        last = torch.where(hits, steps, -1).amax(dim=-1)  # [B, Q], >= qpos
        answers = values.gather(1, last)  # [B, Q]

        t = w + nq
        nk, nv = self.n_keys, self.n_values
        x = torch.zeros(b, t, nk + nv + 1)
        all_keys = torch.cat([keys, qkeys], dim=1)  # [B, T]
        x.scatter_(2, all_keys.unsqueeze(-1), 1.0)
        x[:, :w].scatter_(2, (nk + values).unsqueeze(-1), 1.0)
        x[:, w:, -1] = 1.0
        y = torch.zeros(b, t, nv)
        y[:, w:].scatter_(2, answers.unsqueeze(-1), 1.0)
        mask = torch.zeros(b, t, dtype=torch.bool)
        mask[:, w:] = True
        return Batch(x, y, mask)


def retrieval_loss(pred: Tensor, batch: Batch) -> Tensor:
    """The paper's loss: ``0.5 · Σ_d (pred − y)²`` per scored step, averaged over scored steps.

    ``pred: [B, T, n_values]``. A setting counts as solved when this is ≤ 1e-3 on eval batches.
    """
    if pred.shape != batch.y.shape:
        raise ValueError(f"pred must have shape {tuple(batch.y.shape)}, got {tuple(pred.shape)}")
    per_step = 0.5 * (pred.float() - batch.y.float()).pow(2).sum(dim=-1)
    return per_step[batch.mask].mean()
