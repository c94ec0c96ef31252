"""``record`` over every mixer: outputs untouched, hooks gone, and a faithful replay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from fastweights.analysis import record
from fastweights.analysis.record import kept_steps
from fastweights.nn import MIXERS, CellLayer, FastWeightState, RuleLayer

KINDS = {"softmax": "attention", "transformer": "attention", "lstm": "lstm", "sum": "rule",
         "delta": "rule", "delta_conv": "rule", "gated_delta": "rule", "oja": "rule",
         "dpfp": "rule", "deltanet": "rule", "gated_deltanet": "rule",
         "linear_transformer": "rule", "delta_product": "rule", "deltaproduct": "rule",
         "longhorn": "rule", "longhorn_block": "rule", "titans": "rule", "titans_memory": "rule",
         "ttt_linear": "rule", "ttt_linear_layer": "rule"}  # fmt: skip


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _fields(state) -> dict[str, torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return {"S": state}
    return dict(zip(state._fields, state, strict=True))


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_every_mixer(mixer, make_model, make_tokens):
    model = make_model(mixer)
    x = make_tokens(3, 6)
    with torch.no_grad():
        logits, states = model(x)
    recording = record(model, x, sample=2, every=2, heads=[1])
    with torch.no_grad():
        after, _ = model(x)

    # recording changes nothing: the same logits, during and after; no hook is left behind
    np.testing.assert_array_equal(recording.logits, logits[2].numpy())
    assert torch.equal(after, logits) and _hooks(model) == 0
    assert recording.meta["mixer"] == mixer and recording.tokens == [str(i) for i in x[2].tolist()]

    steps = [0, 2, 4, 5]
    for index, layer in recording.layers.items():
        assert layer.kind == KINDS.get(mixer, "cell") and layer.steps.tolist() == steps
        # the replayed outputs are the ones the layer computed, at every step
        assert layer.meta["replay_error"] < 1e-5, layer.meta
        assert layer.output.shape[0] == len(steps)
        mixer_module = model.blocks[index].mixer
        state = states[index]
        if isinstance(mixer_module, RuleLayer):
            # W after the last step is the final state the layer returned (W = Sᵀ); a layer
            # with a short convolution returns FastWeightState(fast, conv)
            assert isinstance(state, FastWeightState) == mixer_module.carries_conv
            fast = state.fast if isinstance(state, FastWeightState) else state
            np.testing.assert_allclose(layer.weights[-1], fast[2, [1]].mT.numpy(), atol=1e-5)
            K, V = fast.shape[2:]
            assert layer.weights.shape == (4, 1, V, K) and layer.inputs["q"].shape == (4, 1, K)
        elif isinstance(mixer_module, CellLayer):
            for name, value in _fields(state).items():
                np.testing.assert_allclose(
                    layer.state[name][-1], value[2, [1]].detach().numpy(), atol=1e-5
                )
            assert layer.weights.shape[:2] == (4, 1) and "rows" in layer.meta
        elif mixer in ("softmax", "transformer"):  # the cache's keys (rotated by RoPE) recorded
            k_cache = state[0][2, [1]].transpose(0, 1)  # [T, 1, D]
            np.testing.assert_allclose(layer.inputs["k"], k_cache[steps].numpy(), atol=1e-6)
            A = layer.attention
            assert A.shape == (1, 6, 6) and layer.weights is None
            np.testing.assert_allclose(A.sum(-1), 1.0, atol=1e-6)
            assert np.all(np.triu(A[0], 1) == 0)
        else:  # lstm: its final (h, c) [1, B, d]
            np.testing.assert_allclose(layer.state["h"][-1, 0], state[0][0, 2].numpy(), atol=1e-6)
            np.testing.assert_allclose(layer.state["c"][-1, 0], state[1][0, 2].numpy(), atol=1e-6)


def test_srnet1993_records_addresses(make_model, make_tokens):
    layer = record(make_model("srnet1993"), make_tokens(1, 4), layers=[1]).layers[1]
    for name in ("W", "h", "val", "ana", "mod", "delta"):
        assert name in layer.state
    ana = layer.state["ana"]
    assert ana.shape[:2] == (4, 2) and np.all((ana > 0) & (ana < 1))  # logistic pointers
    np.testing.assert_array_equal(layer.weights, layer.state["W"])
    rows = [name for name, _ in layer.meta["rows"]]
    assert rows == ["hidden", "output", "ana", "mod", "delta"]
    assert sum(size for _, size in layer.meta["rows"]) == layer.weights.shape[-2]
    assert sum(size for _, size in layer.meta["columns"]) == layer.weights.shape[-1]


def test_srwm_matrix_is_all_four_parts(make_model, make_tokens):
    layer = record(make_model("srwm"), make_tokens(1, 3)).layers[0]
    W, state = layer.weights, layer.state
    np.testing.assert_array_equal(W[:, :, :4], state["W_y"])
    np.testing.assert_array_equal(W[:, :, 12:], np.swapaxes(state["w_b"], -1, -2))
    assert [name for name, _ in layer.meta["rows"]] == ["W_y", "W_q", "W_k", "w_b"]


def test_hooks_are_removed_on_error(make_model):
    model = make_model("delta")
    with pytest.raises(IndexError):
        record(model, torch.tensor([[0, 1, 99]]))  # id 99 is outside the vocabulary
    assert _hooks(model) == 0


def test_single_sequence_vectors_and_labels(make_model, make_tokens):
    model = make_model("sum", vocab_size=0, d_input=3, n_out=2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    recording = record(model, x, layers=[0])
    assert recording.tokens is None and recording.labels()[0] == "t=0"
    assert list(recording.layers) == [0] and recording.inputs.shape == (5, 3)

    @dataclass(frozen=True)
    class Task:
        symbols: tuple[str, ...] = ("a", "b", "c")
        pad_id: int = 4

    recording = record(make_model("delta"), torch.tensor([0, 2, 4, 3]), task=Task())
    assert recording.tokens == ["a", "c", "<pad>", "3"]
    assert recording.meta["task"] == "Task" and recording.meta["task_config"]["pad_id"] == 4
    named = record(make_model("delta"), torch.tensor([0, 1]), tokens=["x", "y"])
    assert named.tokens == ["x", "y"]


def test_kept_steps():
    assert kept_steps(5, 1).tolist() == [0, 1, 2, 3, 4]
    assert kept_steps(5, 2).tolist() == [0, 2, 4]
    assert kept_steps(6, 4).tolist() == [0, 4, 5]
    assert kept_steps(1, 3).tolist() == [0]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"sample": 3}, ValueError),
        ({"every": 0}, ValueError),
        ({"heads": [0, 0]}, ValueError),
        ({"heads": [2]}, ValueError),
        ({"heads": 1}, TypeError),
        ({"layers": [5]}, ValueError),
        ({"tokens": ["a"]}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error, make_model, make_tokens):
    with pytest.raises(error):
        record(make_model("delta"), make_tokens(2, 4), **kwargs)


def test_not_a_model_or_tensor(make_model, make_tokens):
    with pytest.raises(TypeError, match="FWPModel"):
        record(torch.nn.Linear(2, 2), make_tokens(1, 3))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        record(make_model("delta"), [1, 2])
