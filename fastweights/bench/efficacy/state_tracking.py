"""The ``state_tracking`` experiment: negative eigenvalues and DeltaProduct on parity and S3.

Grazzi et al. 2025 (arXiv:2411.12537): a linear RNN whose state-transition matrices have only
eigenvalues in [0, 1] — DeltaNet with β ∈ (0, 1), transitions ``I − β k kᵀ`` — cannot solve parity
at any length; extending the range to [−1, 1] (β ∈ (0, 2)) lets it. Siems et al. 2025
(DeltaProduct, arXiv:2502.10297): with ``n_h`` Householder factors per token (β ∈ (0, 2)) one layer
can track permutations of ``n_h + 1`` elements, so S3 needs ``n_h ≥ 2`` in one layer, where
DeltaNet (``n_h = 1``) does not solve it.

The settings are ``fastweights.tasks.state_tracking`` word problems: ``Z2`` (parity: the prefix
parity of random bits, the same target as ``FormalLanguage("parity")``'s EOS column, stated as a
class per position) and ``S3``; trained on lengths ``1 … L``, success judged on ``L+1 … 2L``
(length generalisation, as the papers test on longer sequences than they train on). One layer,
so a layer's transitions are what is tested; every arm in fla's llama block, size-matched to the
first (DeltaNet β ∈ (0, 1)); the LSTM is the nonlinear reference.
"""

from __future__ import annotations

from typing import Any

from fastweights.bench.efficacy.spec import TEST_SPLIT, Arm, Claim, Criterion, Experiment, Setting

SOURCE = "Grazzi et al. 2025, arXiv:2411.12537; Siems et al. 2025 (DeltaProduct), arXiv:2502.10297"
CHUNK = {"chunk_size": 16}  # short sequences: see experiments.CHUNK
DELTANET = "deltanet β∈(0,1)"
DELTANET_NEG = "deltanet β∈(0,2)"
DELTAPRODUCT = "deltaproduct n_h=2 β∈(0,2)"
NOTE = (
    "One layer, every arm in fla's llama block (RMSNorm, SwiGLU MLP, head without bias), "
    "size-matched to the first arm. `deltanet β∈(0,1)`: DeltaNet as published (sigmoid β, "
    "transition eigenvalues in [0, 1]); `β∈(0,2)`: `allow_neg_eigval=True` (β = 2σ(·), eigenvalues "
    "in [−1, 1]); `deltaproduct n_h=2`: two Householder steps per token, β ∈ (0, 2). `parity (Z2)` "
    "is the running sum mod 2 of random bits, `S3` the running product of random permutations of "
    "three elements (`fastweights.tasks.state_tracking`); trained on lengths 1–L, the success "
    "criterion is on lengths L+1–2L."
)


def state_tracking(
    max_length: int, *, d_model: int, n_heads: int = 2, budget: dict[str, Any]
) -> Experiment:
    """Parity (Z2) and S3 word problems: train on lengths 1..L, test on L+1..2L."""
    settings = tuple(
        Setting(label, {"group": group, "min_length": 1, "max_length": max_length})
        for label, group in (("parity (Z2)", "Z2"), ("S3", "S3"))
    )
    arms = (
        Arm(DELTANET, "deltanet", CHUNK),
        Arm(DELTANET_NEG, "deltanet", {"allow_neg_eigval": True, **CHUNK}),
        Arm(DELTAPRODUCT, "deltaproduct", {"n_h": 2, "allow_neg_eigval": True, **CHUNK}),
        Arm("lstm", "lstm"),
    )
    parity, s3 = (s.label for s in settings)
    return Experiment(
        name="state_tracking",
        title=f"State tracking (parity, S3): train on lengths 1–{max_length}, test on "
        f"{max_length + 1}–{2 * max_length}",
        source=SOURCE,
        finding="DeltaNet with β ∈ (0, 1) (eigenvalues in [0, 1]) cannot solve parity; negative "
        "eigenvalues (β ∈ (0, 2)) let it; one DeltaProduct layer with n_h = 2 and negative "
        "eigenvalues tracks S3, one DeltaNet layer (n_h = 1) does not",
        task="state_tracking",
        settings=settings,
        arms=arms,
        model={"d_model": d_model, "n_layers": 1, "n_heads": n_heads, "block": "llama"},
        metric="sequence_accuracy",
        success=Criterion("sequence_accuracy", ">=", 0.9, split="length"),
        splits={"val": {}, "test": {}, "length": TEST_SPLIT},
        claims=(
            Claim("DeltaNet β∈(0,1) fails parity", "fails", (DELTANET,), parity),
            Claim(
                "DeltaNet with negative eigenvalues solves parity",
                "solves",
                (DELTANET_NEG,),
                parity,
            ),
            Claim("DeltaNet β∈(0,1) fails S3", "fails", (DELTANET,), s3),
            Claim(
                "one DeltaNet layer (n_h=1) fails S3 even with negative eigenvalues",
                "fails",
                (DELTANET_NEG,),
                s3,
            ),
            Claim(
                "DeltaProduct n_h=2 with negative eigenvalues solves S3",
                "solves",
                (DELTAPRODUCT,),
                s3,
            ),
            Claim(
                "DeltaProduct n_h=2 beats DeltaNet β∈(0,1) on S3",
                "better",
                (DELTAPRODUCT, DELTANET),
                s3,
                split="length",
            ),
            Claim("the LSTM solves parity", "solves", ("lstm",), parity),
            Claim("the LSTM solves S3", "solves", ("lstm",), s3),
        ),
        note=NOTE,
        **budget,
    )
