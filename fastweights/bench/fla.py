"""fla (flash-linear-attention, `pip install flash-linear-attention==0.6.0`) as benchmark forms.

Forms `fla_chunk` and `fla_recurrent` of the `delta` and `gated_delta` rules call fla's
`chunk_delta_rule` / `chunk_gated_delta_rule` and `fused_recurrent_delta_rule` /
`fused_recurrent_gated_delta_rule` behind the same call signature as a registered rule, so the
benchmark times them exactly like our forms (same inputs, layout `[B, T, H, D]`, state
`[B, H, K, V]`, scale `K^-0.5`, initial and final state). fla runs on CUDA only and is imported
only when one of its forms is measured; fla 0.6.0's `fused_recurrent_gated_delta_rule` has no
backward (it raises), so that form is offered for `fwd` only.
"""

from __future__ import annotations

import importlib
import importlib.util

import torch

FLA_FORMS = ("fla_chunk", "fla_recurrent")
FLA_FUNCTIONS = {
    ("delta", "fla_chunk"): "chunk_delta_rule",
    ("delta", "fla_recurrent"): "fused_recurrent_delta_rule",
    ("gated_delta", "fla_chunk"): "chunk_gated_delta_rule",
    ("gated_delta", "fla_recurrent"): "fused_recurrent_gated_delta_rule",
}
NO_BACKWARD = {("gated_delta", "fla_recurrent")}


def fla_available() -> bool:
    """Whether fla can be imported (without importing it)."""
    return importlib.util.find_spec("fla") is not None


class FlaRule:
    """One fla function with a registered rule's call signature (`rule(q, k, v, beta, ...)`)."""

    def __init__(self, rule: str, form: str) -> None:
        if (rule, form) not in FLA_FUNCTIONS:
            known = sorted(FLA_FUNCTIONS)
            raise ValueError(f"no fla function for rule {rule!r}, form {form!r}; known: {known}")
        self.name, self.form = rule, form
        self.gates = ("g",) if rule == "gated_delta" else ()
        self.function = FLA_FUNCTIONS[rule, form]

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, *,
        impl: str, chunk_size: int, initial_state: torch.Tensor | None = None,
        **gates: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        fn = getattr(importlib.import_module("fla.ops"), self.function)
        return fn(
            q=q, k=k, v=v, beta=beta, scale=q.shape[-1] ** -0.5, initial_state=initial_state,
            output_final_state=True, **gates,
        )  # fmt: skip


def fla_rule(rule: str, form: str) -> FlaRule:
    return FlaRule(rule, form)
