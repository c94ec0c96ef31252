"""The 1993 net's micro-step replay: read/write maps against the recorded pointers, the writes
summing to the change of W, nodal traffic, machinery per row group, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastweights.analysis import record
from fastweights.analysis.srnet_microsteps import (
    MicroSteps,
    layer_options,
    machinery_change,
    nodal_traffic,
    srnet_microsteps,
)
from fastweights.models import FWPModel, ModelConfig
from fastweights.ops.cells import srnet1993
from fastweights.tasks import MetaAssociation

TASK = MetaAssociation(n_items=3, n_labels=3, length=6)


def _recording(every: int = 1, **options):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = ModelConfig(mixer="srnet1993", d_model=8, n_heads=2, n_layers=1, mlp_ratio=0,
                             d_input=TASK.d_input, n_out=TASK.n_out,
                             feedback=TASK.feedback_dims, mixer_options=options)  # fmt: skip
        model = FWPModel(config).eval()
    x = TASK.sample(1, torch.Generator().manual_seed(0)).x
    return record(model, x, task=TASK, every=every)


def _g(pointer: np.ndarray, layout: srnet1993.Layout, tau: float = 0.5) -> np.ndarray:
    A = layout.params(tau, dtype=torch.float64).addresses.numpy()
    d = np.square(pointer[None, :] - A).sum(-1)
    return np.exp(-d / tau).reshape(layout.n_computed, layout.n_units)


@pytest.mark.parametrize("head", [0, 1])
def test_last_micro_step_of_each_token_matches_the_recorded_pointers(head: int) -> None:
    recording = _recording()
    rec = recording.layers[0]
    micro = srnet_microsteps(rec, head, **layer_options(recording))
    M = 2
    assert micro.W.shape[0] == M * (len(rec.steps) - 1) + 1
    for t in range(1, len(rec.steps)):
        s = M * t - 1  # the last micro-step of token t (micro-steps start after token 0)
        np.testing.assert_allclose(micro.read[s], _g(rec.state["ana"][t, head], micro.layout),
                                   rtol=1e-4, atol=1e-6)  # fmt: skip
        expected = rec.state["delta"][t, head, 0] * _g(rec.state["mod"][t, head], micro.layout)
        np.testing.assert_allclose(micro.write[s], expected, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(micro.val[s], rec.state["val"][t, head, 0], rtol=1e-4)
        assert micro.token[s] == t
    np.testing.assert_allclose(micro.write.sum(0), micro.W[-1] - micro.W[0], atol=1e-12)
    np.testing.assert_allclose(micro.W[-1], rec.weights[-1, head], rtol=1e-4, atol=1e-6)
    # the eval units the micro-steps read are the feedback channels of the input
    eval_units = slice(micro.layout.n_obs, micro.layout.n_obs + micro.layout.n_eval)
    np.testing.assert_allclose(micro.z[::M, eval_units], rec.inputs["eval"][1:, head])


def test_without_writes_nothing_is_written() -> None:
    recording = _recording(writes=False)
    micro = srnet_microsteps(recording.layers[0], 0, **layer_options(recording))
    assert layer_options(recording)["writes"] is False
    assert not micro.write.any() and np.array_equal(micro.W[-1], micro.W[0])
    assert micro.read.max() > 0  # it still reads


def test_a_wrong_replay_and_sparse_recordings_are_refused() -> None:
    recording = _recording()
    with pytest.raises(ValueError, match="micro-steps"):
        srnet_microsteps(recording.layers[0], 0, micro_steps=3)
    with pytest.raises(ValueError, match="every step"):
        srnet_microsteps(_recording(every=2).layers[0], 0)


def test_nodal_traffic_and_machinery_known_answers() -> None:
    layout = srnet1993.Layout(n_obs=1, n_eval=1, n_hidden=1, n_out=1)
    R, N = layout.n_computed, layout.n_units
    W = np.zeros((2, R, N))
    W[0, 0, 0], W[0, 1, 1] = 2.0, -3.0  # hidden <- obs (2), output <- eval (−3)
    z = np.zeros((1, N))
    z[0, 0], z[0, 1] = 1.5, 1.0
    write = np.zeros((1, R, N))
    write[0, layout.ana.start - layout.n_in, 4] = 3.0  # a write into the first ana unit's row
    write[0, 0, 2] = 4.0  # and one into the hidden unit's row
    micro = MicroSteps(W, z, np.zeros((1, R, N)), write, np.zeros(1), np.zeros(1),
                       np.zeros(1, dtype=int), layout)  # fmt: skip
    into, out = nodal_traffic(micro)
    assert into[0, 0] == 3.0 and into[0, 1] == 3.0 and into[0, 2:].sum() == 0
    assert out[0, 0] == 3.0 and out[0, 1] == 3.0 and out[0, 2:].sum() == 0
    change = machinery_change(micro)
    assert change["ana"][0] == 3.0 and change["hidden"][0] == 4.0
    assert change["mod"][0] == change["delta"][0] == change["output"][0] == 0
