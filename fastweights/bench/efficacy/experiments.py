"""The efficacy suites as data: ``SUITES[name]`` is a tuple of ``spec.Experiment``.

Eight experiments, each after a paper's finding (../docs/results.md states them and what we saw):
``capacity`` and ``editing`` (Schlag et al. 2021, arXiv:2102.11174), ``mqar`` (Arora et al.
2023, arXiv:2312.04927; Yang et al. 2024, arXiv:2406.06484), ``formal`` (Irie et al. 2023,
arXiv:2310.16076), ``fewshot`` (Irie et al. 2022, arXiv:2202.05780), ``charlm`` (Irie et al.
2021, arXiv:2106.06295), ``meta`` (Schmidhuber 1993's self-referential net learning to learn
from feedback) and ``state_tracking`` (Grazzi et al. 2025, arXiv:2411.12537; Siems et al. 2025,
arXiv:2502.10297; its builder in ``state_tracking.py``). One builder per experiment takes the
sizes that differ between suites:

- ``smoke``: 1 seed, 1 lr, a few steps, tiny models — only proves that the code runs (CI);
- ``quick``: 3 seeds, 2 learning rates, 250–600 steps, d_model 16–32: about half an hour on
  2 CPU cores with ``--jobs 2`` (``--estimate`` predicts it; the records hold the real time);
- ``full``: 5 seeds, 3 learning rates, 2000 steps, larger settings (a larger machine's job).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastweights.bench.efficacy.spec import TEST_SPLIT, Arm, Claim, Criterion, Experiment, Setting
from fastweights.bench.efficacy.state_tracking import state_tracking

SCHLAG = "Schlag, Irie, Schmidhuber 2021, arXiv:2102.11174"


# The rule mixers' chunk size: these sequences are short (T <= 200), and chunks of 16 ran
# 2-3x faster than the default 64 at T = 24-64 here (forward+backward, one thread); the
# chunkwise form equals the recurrent one for any chunk size (tests/ops), so results do not move.
RULE_MIXERS = ("sum", "delta", "delta_conv", "gated_delta", "oja", "dpfp", "deltanet",
               "gated_deltanet", "linear_transformer")  # fmt: skip
CHUNK = {"chunk_size": 16}
# The published layers run in the block their papers and fla build them in (pre-RMSNorm, SwiGLU
# MLP, head without bias; ModelConfig.block), size-matched to the reference arm in that block
# (protocol.block_config: fla's MLP rule without its rounding up to 256). The minimal arms stay
# in the classic block, so their rows are the same runs as before this arm was added.
PUBLISHED = ("transformer", "linear_transformer", "deltanet")
LLAMA = {"block": "llama"}
# a minimal arm that has a published counterpart in the same experiment is labelled so
MINIMAL = {"softmax": "softmax (minimal)", "sum": "sum (minimal)", "delta": "delta (minimal)"}
PUBLISHED_NOTE = (
    "The `(minimal)` arms are the bare layers of the earlier runs, in the classic block "
    "(LayerNorm, GELU MLP): `softmax` has no positional information; `sum` (elu+1, "
    "sum-normalised, no attention denominator) and `delta` (L2-normalised q/k) have no short "
    "convolution, query scale or output norm. The published layers are as their papers and fla "
    "build them, in fla's llama block (RMSNorm, SwiGLU MLP of hidden int(8d/3), head without "
    "bias, N(0, 0.02) init): `transformer` (softmax attention with RoPE), `linear_transformer` "
    "(Katharopoulos et al. 2020: elu+1 with the attention denominator), `deltanet` (Yang et al. "
    "2024: short convolutions, SiLU, L2-normalised q/k, K^-1/2 scale, output RMSNorm). Every arm "
    "is size-matched to the first one, the published ones in their own block."
)


def _arms(*names: str, labels: dict[str, str] | None = None) -> tuple[Arm, ...]:
    labels = labels or {}
    return tuple(
        Arm(
            labels.get(name, name),
            name,
            CHUNK if name in RULE_MIXERS else {},
            LLAMA if name in PUBLISHED else {},
        )
        for name in names
    )


def _dpfp(nu: int) -> Arm:
    return Arm(f"dpfp ν={nu}", "dpfp", {"feature_options": {"nu": nu}, **CHUNK})


def capacity(pairs: Sequence[int], *, d_model: int, budget: dict[str, Any]) -> Experiment:
    """The sum rule's capacity: largest S retrieved, elu+1 against DPFP ν = 1, 2, 3."""
    arms = (Arm("sum (elu+1)", "sum", CHUNK), _dpfp(1), _dpfp(2), _dpfp(3))
    return Experiment(
        name="capacity",
        title="Capacity of the sum rule: elu+1 vs DPFP ν = 1, 2, 3",
        source=SCHLAG,
        finding="capacity grows with the feature dimension (d_dot): elu+1 < DPFP ν=1 < 2 < 3",
        task="associative_retrieval",
        settings=tuple(
            Setting(f"S={s}", {"setting": "capacity", "n_pairs": s, "n_queries": s}) for s in pairs
        ),
        arms=arms,
        # one layer, one head: the key dimension is d_model (elu+1) or 2ν·d_model (DPFP)
        model={"d_model": d_model, "n_layers": 1, "n_heads": 1, "mlp_ratio": 0},
        metric="accuracy",
        success=Criterion("accuracy", ">=", 0.99),
        sweep="n_pairs",
        claims=(
            Claim(
                "capacity grows with the feature dimension",
                "increasing",
                tuple(arm.label for arm in arms),
            ),
        ),
        **budget,
    )


def editing(n_keys: int, *, d_model: int, budget: dict[str, Any]) -> Experiment:
    """Keys re-assigned to new values: the delta rules overwrite, the sum rule cannot."""
    label = f"N={n_keys}"
    return Experiment(
        name="editing",
        title="Editing stored associations: sum vs delta vs gated delta",
        source=SCHLAG,
        finding="the delta rules solve the editing setting, the sum rule does not",
        task="associative_retrieval",
        settings=(Setting(label, {"setting": "editing", "n_pairs": n_keys, "n_queries": n_keys}),),
        arms=_arms("sum", "delta", "gated_delta"),
        model={"d_model": d_model, "n_layers": 2, "n_heads": 4},
        metric="accuracy",
        success=Criterion("accuracy", ">=", 0.99),
        claims=(
            Claim("the sum rule fails", "fails", ("sum",), label),
            Claim("the delta rule solves it", "solves", ("delta",), label),
            Claim("the gated delta rule solves it", "solves", ("gated_delta",), label),
        ),
        **budget,
    )


def mqar(
    seq_len: int, pairs: int, vocab: int, widths: Sequence[int], *, budget: dict[str, Any]
) -> Experiment:
    """Zoology's multi-query associative recall, scaled down, at two model widths."""
    settings = tuple(
        Setting(
            f"d={d}",
            {"vocab_size": vocab, "seq_len": seq_len, "num_kv_pairs": pairs},
            {"d_model": d},
        )
        for d in widths
    )
    small, large = settings[0].label, settings[-1].label
    soft, lin, dn = MINIMAL["softmax"], MINIMAL["sum"], MINIMAL["delta"]
    return Experiment(
        name="mqar",
        title=f"MQAR (T={seq_len}, {pairs} pairs, vocab {vocab}) at two widths",
        source="Arora et al. 2023 (Zoology), arXiv:2312.04927; Yang et al. 2024, arXiv:2406.06484",
        finding="attention solves MQAR at every width; the delta rule recalls far better than "
        "the sum rule (DeltaNet is perfect at T=512, 64 pairs)",
        task="mqar",
        settings=settings,
        # delta_conv: the minimal delta layer with DeltaNet's short convolution (arXiv:2406.06484)
        arms=_arms(
            "softmax",
            "sum",
            "delta",
            "delta_conv",
            "gated_delta",
            "srwm",
            "rdn",
            "lstm",
            *PUBLISHED,
            labels=MINIMAL,
        ),
        # one head, as Zoology's small-width models; it also lets the sizes match finely
        model={"n_layers": 2, "n_heads": 1},
        metric="accuracy",
        success=Criterion("accuracy", ">=", 0.99),
        claims=(
            Claim("softmax attention solves it (small width)", "solves", (soft,), small),
            Claim("softmax attention solves it (large width)", "solves", (soft,), large),
            Claim("the delta rule solves it (large width)", "solves", (dn,), large),
            Claim(
                "DeltaNet with its short conv solves it (large width)",
                "solves",
                ("delta_conv",),
                large,
            ),
            Claim("delta recalls better than sum (small width)", "better", (dn, lin), small),
            Claim("delta recalls better than sum (large width)", "better", (dn, lin), large),
            # the same findings, stated of the published layers
            Claim(
                "the Transformer (RoPE) solves it (small width)", "solves", ("transformer",), small
            ),
            Claim(
                "the Transformer (RoPE) solves it (large width)", "solves", ("transformer",), large
            ),
            Claim("published DeltaNet solves it (large width)", "solves", ("deltanet",), large),
            Claim(
                "published DeltaNet recalls better than the linear Transformer (small width)",
                "better",
                ("deltanet", "linear_transformer"),
                small,
            ),
            Claim(
                "published DeltaNet recalls better than the linear Transformer (large width)",
                "better",
                ("deltanet", "linear_transformer"),
                large,
            ),
        ),
        note=PUBLISHED_NOTE,
        **budget,
    )


def formal(
    max_length: int, *, d_model: int, n_heads: int = 2, budget: dict[str, Any]
) -> Experiment:
    """Train on strings of length 1..L, test on L+1..2L (length generalisation)."""
    languages = ("parity", "dyck1", "reset_dyck1", "anbn")
    return Experiment(
        name="formal",
        title=f"Formal languages: train on lengths 1–{max_length}, test on "
        f"{max_length + 1}–{2 * max_length}",
        source="Irie, Csordás, Schmidhuber 2023, arXiv:2310.16076",
        finding="the linear Transformer fails parity; DeltaNet solves reset Dyck-1; recurrent "
        "FWPs (RDN) and the SRWM solve parity and generalise to longer strings",
        task="formal_language",
        settings=tuple(
            Setting(lang, {"language": lang, "min_length": 1, "max_length": max_length})
            for lang in languages
        ),
        arms=_arms("sum", "delta", "rdn", "delta_rnn", "srwm", "lstm", "softmax"),
        model={"d_model": d_model, "n_layers": 1, "n_heads": n_heads},
        metric="sequence_accuracy",
        success=Criterion("sequence_accuracy", ">=", 0.99, split="length"),
        splits={"val": {}, "test": {}, "length": TEST_SPLIT},
        claims=(
            Claim("the linear Transformer fails parity", "fails", ("sum",), "parity"),
            Claim("RDN solves parity and generalises", "solves", ("rdn",), "parity"),
            Claim("the SRWM solves parity and generalises", "solves", ("srwm",), "parity"),
            Claim("DeltaNet solves reset Dyck-1", "solves", ("delta",), "reset_dyck1"),
            Claim("the linear Transformer fails reset Dyck-1", "fails", ("sum",), "reset_dyck1"),
        ),
        **budget,
    )


def fewshot(
    ways: int,
    shots: Sequence[int],
    *,
    d_model: int,
    glyphs: dict[str, Any],
    budget: dict[str, Any],
) -> Experiment:
    """Sequential N-way K-shot on the glyph set; test episodes from held-out alphabets.

    ``glyphs``: ``FewShot`` fields of the data (``image_size``, ``n_queries``, ...).
    """
    settings = tuple(
        Setting(
            f"{k}-shot {mode}",
            {"source": "glyphs", "n_way": ways, "k_shot": k, "label_mode": mode, **glyphs},
        )
        for k in shots
        for mode in ("sync", "delayed")
    )
    return Experiment(
        name="fewshot",
        title=f"Few-shot: {ways}-way, sync and delayed labels, held-out alphabets at test",
        source="Irie, Schlag, Csordás, Schmidhuber 2022, arXiv:2202.05780",
        finding="the SRWM is competitive with DeltaNet",
        task="few_shot",
        settings=settings,
        arms=_arms("srwm", "delta", "lstm"),
        model={"d_model": d_model, "n_layers": 2, "n_heads": 2},
        metric="accuracy",
        splits={"val": {}, "test": TEST_SPLIT},
        claims=tuple(
            Claim("the SRWM is not worse than DeltaNet", "not_worse", ("srwm", "delta"), s.label)
            for s in settings
        ),
        **budget,
    )


def charlm(seq_len: int, *, d_model: int, n_layers: int, budget: dict[str, Any]) -> Experiment:
    """Bits per character on the vendored text at equal size and steps."""
    label = f"T={seq_len}"
    soft, lin, dn = MINIMAL["softmax"], MINIMAL["sum"], MINIMAL["delta"]
    return Experiment(
        name="charlm",
        title="Character-level LM on the vendored text (bits per character)",
        source="Irie, Schlag, Csordás, Schmidhuber 2021, arXiv:2106.06295 (WikiText-103 words)",
        finding="softmax < DeltaNet < linear Transformer in perplexity; the Delta LSTM better "
        "than DeltaNet",
        task="char_lm",
        settings=(Setting(label, {"corpus": "vendored", "seq_len": seq_len}),),
        arms=_arms("softmax", "sum", "delta", "delta_lstm", "srwm", *PUBLISHED, labels=MINIMAL),
        model={"d_model": d_model, "n_layers": n_layers, "n_heads": 2},
        metric="bits_per_char",
        splits={"val": {"split": "valid"}, "test": {"split": "test"}},
        claims=(
            Claim("DeltaNet beats the linear Transformer", "better", (dn, lin), label),
            Claim("softmax attention beats the linear Transformer", "better", (soft, lin), label),
            Claim("softmax attention beats DeltaNet", "better", (soft, dn), label),
            Claim("the Delta LSTM beats DeltaNet", "better", ("delta_lstm", dn), label),
            # the same findings, stated of the published layers
            Claim(
                "published DeltaNet beats the linear Transformer",
                "better",
                ("deltanet", "linear_transformer"),
                label,
            ),
            Claim(
                "the Transformer (RoPE) beats the linear Transformer",
                "better",
                ("transformer", "linear_transformer"),
                label,
            ),
            Claim(
                "the Transformer (RoPE) beats published DeltaNet",
                "better",
                ("transformer", "deltanet"),
                label,
            ),
        ),
        note=PUBLISHED_NOTE,
        **budget,
    )


SCHMIDHUBER_1993 = (
    "Schmidhuber 1993, \"A 'self-referential' weight matrix\" (ICANN) and \"An 'introspective' "
    'network that can learn to run its own weight change algorithm"'
)
META_NOTE = (
    "Each episode draws a new item → label map; the correct label of step t arrives with step "
    "t+1 in the feedback channels. Every arm reads them in its input map; the 1993 net also "
    "receives them on its eval units (`ModelConfig.feedback`). `no writes`: its modification "
    "units' writes are not applied (W stays W_0, an RNN that still reads its weights); `eval "
    "zeroed`: its eval units are held at 0 (the feedback still reaches its input map). "
    "`early_loss` / `late_loss`: cross-entropy on the first / last third of each test episode."
)


def meta(n_items: int, length: int, *, d_model: int, budget: dict[str, Any]) -> Experiment:
    """Learning to learn from feedback: the 1993 net, its ablations, SRWM, DeltaNet, LSTM."""
    label = f"{n_items} items, T={length}"
    settings = [Setting(label, {"n_items": n_items, "n_labels": n_items, "length": length})]
    arms = (
        Arm("srnet1993", "srnet1993"),
        Arm("srnet1993 no writes", "srnet1993", {"writes": False}),
        Arm("srnet1993 eval zeroed", "srnet1993", {"eval_units": "zero"}),
        *_arms("srwm", "deltanet", "lstm"),
    )
    claims = [
        Claim("the 1993 net learns to learn (late-episode error below early)", "learns",
              ("srnet1993",), label),
        Claim("its learning needs its own weight changes (below the no-writes ablation)",
              "better", ("srnet1993", "srnet1993 no writes"), label),
        Claim("its learning uses the eval units (below the eval-zeroed ablation)", "better",
              ("srnet1993", "srnet1993 eval zeroed"), label),
        *(Claim(f"{arm} learns within the episode from the same feedback", "learns", (arm,),
                label) for arm in ("srwm", "deltanet", "lstm")),
    ]  # fmt: skip
    return Experiment(
        name="meta",
        title=f"Meta-learning from feedback: random associations ({n_items} items) per episode",
        source=SCHMIDHUBER_1993,
        finding="a net that sees performance feedback on eval units and can read and modify its "
        "own weights learns, over many episodes, to learn within one",
        task="meta_association",
        settings=tuple(settings),
        arms=arms,
        model={"d_model": d_model, "n_layers": 1, "n_heads": 2},
        metric="late_loss",
        claims=tuple(claims),
        note=META_NOTE,
        **budget,
    )


def _budget(
    steps: int,
    batch: int,
    lrs: tuple[float, ...],
    seeds: int,
    eval_batches: int,
    eval_batch_size: int,
) -> dict[str, Any]:
    warmup = max(1, steps // 10)
    return {
        "train": {"steps": steps, "batch_size": batch, "warmup_steps": warmup},
        "lrs": lrs,
        "seeds": seeds,
        "eval_batches": eval_batches,
        "eval_batch_size": eval_batch_size,
    }


def _smoke() -> tuple[Experiment, ...]:
    b = _budget(3, 4, (3e-3,), 1, 1, 8)
    return (
        capacity((2, 4), d_model=8, budget=b),
        editing(2, d_model=8, budget=b),
        mqar(16, 2, 32, (8, 16), budget=b),
        formal(4, d_model=12, n_heads=1, budget=b),
        fewshot(
            2,
            (1,),
            d_model=16,
            glyphs={"image_size": 8, "n_queries": 2, "n_drawers": 4, "max_characters": 12},
            budget=b,
        ),
        charlm(8, d_model=8, n_layers=1, budget=b),
        meta(2, 6, d_model=8, budget=b),
        state_tracking(4, d_model=12, n_heads=1, budget=b),
    )


def _quick() -> tuple[Experiment, ...]:
    lrs = (3e-3, 1e-2)
    return (
        capacity((4, 6, 8, 12, 16), d_model=16, budget=_budget(600, 32, lrs, 3, 4, 64)),
        editing(8, d_model=32, budget=_budget(400, 32, lrs, 3, 4, 64)),
        mqar(24, 4, 64, (16, 32), budget=_budget(600, 32, lrs, 3, 4, 64)),
        formal(16, d_model=32, budget=_budget(300, 32, lrs, 3, 4, 64)),
        fewshot(
            5,
            (1, 5),
            d_model=32,
            glyphs={"image_size": 14, "n_queries": 5},
            budget=_budget(300, 32, lrs, 3, 4, 64),
        ),
        charlm(32, d_model=32, n_layers=2, budget=_budget(250, 32, lrs, 3, 4, 64)),
        meta(4, 24, d_model=16, budget=_budget(800, 32, lrs, 3, 4, 64)),
        state_tracking(16, d_model=32, budget=_budget(1000, 32, lrs, 3, 4, 64)),
    )


def _full() -> tuple[Experiment, ...]:
    lrs = (1e-3, 3e-3, 1e-2)
    return (
        capacity((4, 8, 16, 32, 64, 128), d_model=16, budget=_budget(2000, 32, lrs, 5, 8, 64)),
        editing(16, d_model=64, budget=_budget(2000, 32, lrs, 5, 8, 64)),
        mqar(64, 8, 128, (32, 64), budget=_budget(2000, 32, lrs, 5, 8, 64)),
        formal(50, d_model=64, budget=_budget(2000, 32, lrs, 5, 8, 64)),
        fewshot(
            5,
            (1, 5),
            d_model=64,
            glyphs={"image_size": 28, "n_queries": 5},
            budget=_budget(2000, 32, lrs, 5, 8, 64),
        ),
        charlm(64, d_model=64, n_layers=2, budget=_budget(2000, 32, lrs, 5, 8, 64)),
        meta(6, 48, d_model=32, budget=_budget(2000, 32, lrs, 5, 8, 64)),
        state_tracking(32, d_model=64, budget=_budget(2000, 32, lrs, 5, 8, 64)),
    )


SUITES = {"smoke": _smoke(), "quick": _quick(), "full": _full()}
