"""Run presets for ``fwp train``: a task, a model and a training config, as plain dicts.

``configs(preset, overrides)`` resolves one into its task, ``ModelConfig`` and ``TrainConfig``;
the model's input and output sizes come from the task (``vocab_size``/``d_input``, ``n_out``), and
so do its feedback channels (a task's ``feedback_dims``) unless the model sets ``feedback``.
"""

from __future__ import annotations

from typing import Any

from fastweights.models import ModelConfig
from fastweights.tasks import TASKS
from fastweights.train.loop import TrainConfig
from fastweights.train.overrides import apply_overrides

_AR_EDITING = ("associative_retrieval", {"setting": "editing", "n_pairs": 8, "n_queries": 8})
_SMALL = {"d_model": 64, "n_layers": 2, "n_heads": 4}
_TRAIN = {"steps": 1000, "batch_size": 32, "lr": 3e-3, "warmup_steps": 50, "eval_every": 100}
_CHARLM = ("char_lm", {"corpus": "vendored", "seq_len": 128})
_CHARLM_MODEL = {"d_model": 128, "n_layers": 2, "n_heads": 4}
_CHARLM_TRAIN = {**_TRAIN, "steps": 1000, "warmup_steps": 100, "carry_state": True}
_BPE = ("token_lm", {"tokenization": "bpe", "max_vocab": 2048, "seq_len": 64})

RUN_PRESETS: dict[str, dict[str, Any]] = {
    # Schlag et al. 2021's editing setting, sum rule (linear Transformer) vs delta rule
    "ar-editing-sum": {"task": _AR_EDITING, "model": {**_SMALL, "mixer": "sum"}, "train": _TRAIN},
    "ar-editing-delta": {
        "task": _AR_EDITING,
        "model": {**_SMALL, "mixer": "delta"},
        "train": _TRAIN,
    },
    # the published DeltaNet (fla's layer: short convolutions, SiLU, L2 norm, K^-1/2 scale,
    # output RMSNorm) in fla's llama block; the MLP at fla's int(8d/3) = 170 without the rounding
    # up to 256, so that the size matches the two above (102k vs 101-102k parameters)
    "ar-editing-deltanet": {
        "task": _AR_EDITING,
        "model": {**_SMALL, "mixer": "deltanet", "block": "llama", "mlp_hidden": 170},
        "train": _TRAIN,
    },
    # DeltaNet as published, with its short convolution, and one head of 64: without the
    # convolution, or with 4 heads of 16, it stays at ~24 % (docs/tasks-retrieval.md)
    "mqar-delta": {
        "task": ("mqar", {"vocab_size": 256, "seq_len": 64, "num_kv_pairs": 4}),
        "model": {**_SMALL, "n_heads": 1, "mixer": "delta", "short_conv": 4},
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
    # character-level LM on the vendored Shakespeare (docs/tasks-lm.md), trained by truncated
    # BPTT: every layer's state carried from window to window of 32 streams through the text
    "charlm-delta": {
        "task": _CHARLM,
        "model": {**_CHARLM_MODEL, "mixer": "delta"},
        "train": _CHARLM_TRAIN,
    },
    "charlm-sum": {
        "task": _CHARLM,
        "model": {**_CHARLM_MODEL, "mixer": "sum"},
        "train": _CHARLM_TRAIN,
    },
    # the published DeltaNet (short convolutions, SiLU, L2 norm, output RMSNorm) in fla's block
    "charlm-deltanet": {
        "task": _CHARLM,
        "model": {**_CHARLM_MODEL, "mixer": "deltanet", "block": "llama"},
        "train": _CHARLM_TRAIN,
    },
    # a recurrent FWP cell (Irie et al. 2021: the delta rule's fast net is an RNN)
    "charlm-delta_rnn": {
        "task": _CHARLM,
        "model": {**_CHARLM_MODEL, "mixer": "delta_rnn"},
        "train": _CHARLM_TRAIN,
    },
    # the RoPE Transformer arm: its carried state is a sliding key/value cache of one window
    "charlm-transformer": {
        "task": _CHARLM,
        "model": {
            **_CHARLM_MODEL,
            "mixer": "transformer",
            "block": "llama",
            "mixer_options": {"window": 128},
        },
        "train": _CHARLM_TRAIN,
    },
    # subword LM (docs/tasks-lm.md): byte-level BPE trained on the text (the vendored one, or
    # --task.path=FILE_OR_DIR), the published DeltaNet by truncated BPTT (state carried) ...
    "lm-bpe-deltanet": {
        "task": _BPE,
        "model": {**_CHARLM_MODEL, "mixer": "deltanet", "block": "llama"},
        "train": _CHARLM_TRAIN,
    },
    # ... or on packed documents (each window's documents read alone from a fresh state)
    "lm-bpe-deltanet-packed": {
        "task": (_BPE[0], {**_BPE[1], "pack": True}),
        "model": {**_CHARLM_MODEL, "mixer": "deltanet", "block": "llama"},
        "train": {**_CHARLM_TRAIN, "carry_state": False},
    },
    # 5-way 1-shot sync-label few-shot on the font-rendered glyphs (docs/tasks-fewshot.md):
    # SRWM vs DeltaNet as in Irie et al. 2022; 5 queries per episode for more signal per step
    "fewshot-glyphs-srwm": {
        "task": ("few_shot", {"source": "glyphs", "n_way": 5, "k_shot": 1, "n_queries": 5}),
        "model": {**_SMALL, "mixer": "srwm"},
        "train": _TRAIN,
    },
    "fewshot-glyphs-delta": {
        "task": ("few_shot", {"source": "glyphs", "n_way": 5, "k_shot": 1, "n_queries": 5}),
        "model": {**_SMALL, "mixer": "delta"},
        "train": _TRAIN,
    },
    # the 1993 self-referential net learning to learn (docs/historical.md): a new item -> label
    # map per episode, each label revealed one step later on its eval units (feedback = the
    # task's feedback_dims, n_labels); the efficacy experiment `meta`'s reference arm
    "meta-srnet1993": {
        "task": ("meta_association", {"n_items": 4, "n_labels": 4, "length": 24}),
        "model": {"mixer": "srnet1993", "d_model": 16, "n_layers": 1, "n_heads": 2},
        "train": {**_TRAIN, "steps": 800, "lr": 1e-2, "warmup_steps": 80, "eval_every": 200},
    },
}


def configs(preset: str, overrides: list[str]) -> tuple[Any, ModelConfig, TrainConfig]:
    """The task, model config and train config of ``preset`` with ``overrides`` applied."""
    if preset not in RUN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(RUN_PRESETS)}")
    spec = RUN_PRESETS[preset]
    task_name, task_fields = spec["task"]
    task_cls = TASKS[task_name]
    values = apply_overrides(
        {
            "task": (task_cls, task_fields),
            "model": (ModelConfig, spec["model"]),
            "train": (TrainConfig, spec["train"]),
        },
        overrides,
    )
    task = task_cls(**values["task"])
    io = {"vocab_size": task.vocab_size} if task.vocab_size else {"d_input": task.d_input}
    if getattr(task, "feedback_dims", 0) and "feedback" not in values["model"]:
        io["feedback"] = task.feedback_dims  # the task's feedback channels, unless set
    model = ModelConfig(**{**values["model"], **io, "n_out": task.n_out})
    return task, model, TrainConfig(**values["train"])
