"""AdamW's groups: parameters marked ``_no_weight_decay`` (Gated DeltaNet's A_log, dt_bias) do
not decay; everything else does."""

from __future__ import annotations

from fastweights.models import FWPModel, preset_config
from fastweights.train.loop import parameter_groups


def test_gated_deltanet_s_decay_rates_are_not_decayed() -> None:
    model = FWPModel(preset_config("gated_deltanet-tiny", vocab_size=16))
    decayed, kept = parameter_groups(model.double(), 0.1)  # .double() keeps the marks
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)].rsplit(".", 1)[-1] for p in kept["params"]) == [
        "A_log", "A_log", "dt_bias", "dt_bias",
    ]  # fmt: skip
    assert (decayed["weight_decay"], kept["weight_decay"]) == (0.1, 0.0)
    count = len(decayed["params"]) + len(kept["params"])
    assert count == len(list(model.parameters()))


def test_a_model_without_marks_has_one_group() -> None:
    (group,) = parameter_groups(FWPModel(preset_config("tiny", vocab_size=16)), 0.01)
    assert group["weight_decay"] == 0.01
