"""Run presets for ``fwp train``: a task, a model and a training config, as plain dicts.

The model's input and output sizes come from the task (``vocab_size``/``d_input``, ``n_out``).
"""

from __future__ import annotations

from typing import Any

_AR_EDITING = ("associative_retrieval", {"setting": "editing", "n_pairs": 8, "n_queries": 8})
_SMALL = {"d_model": 64, "n_layers": 2, "n_heads": 4}
_TRAIN = {"steps": 1000, "batch_size": 32, "lr": 3e-3, "warmup_steps": 50, "eval_every": 100}

RUN_PRESETS: dict[str, dict[str, Any]] = {
    # Schlag et al. 2021's editing setting, sum rule (linear Transformer) vs delta rule
    "ar-editing-sum": {"task": _AR_EDITING, "model": {**_SMALL, "mixer": "sum"}, "train": _TRAIN},
    "ar-editing-delta": {
        "task": _AR_EDITING,
        "model": {**_SMALL, "mixer": "delta"},
        "train": _TRAIN,
    },
    "mqar-delta": {
        "task": ("mqar", {"vocab_size": 256, "seq_len": 64, "num_kv_pairs": 4}),
        "model": {**_SMALL, "mixer": "delta"},
        "train": _TRAIN,
    },
    "parity-rdn": {
        "task": ("formal_language", {"language": "parity"}),
        "model": {**_SMALL, "mixer": "rdn"},
        "train": _TRAIN,
    },
    "listops-delta": {
        "task": ("listops", {"max_depth": 6, "max_length": 100}),
        "model": {**_SMALL, "mixer": "delta"},
        "train": _TRAIN,
    },
    "copy-delta": {"task": ("copy", {}), "model": {**_SMALL, "mixer": "delta"}, "train": _TRAIN},
}
