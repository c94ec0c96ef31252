"""The dual form of SGD-trained linear layers equals the trained layers (arXiv:2202.05798)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastweights.analysis.dual import record_dual, spotlight


def _mlp(bias: bool = True) -> nn.Sequential:
    torch.manual_seed(0)  # the parameters' init has no generator argument
    return nn.Sequential(nn.Linear(5, 7, bias=bias), nn.Tanh(), nn.Linear(7, 3, bias=bias)).double()


def _data(n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=generator, dtype=torch.float64)
    return x, torch.randint(0, 3, (n,), generator=generator)


def _train(model: nn.Module, names: list[str], *, accumulate: bool = False) -> list:
    x, y = _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)  # lr per step
    recorders = [record_dual(model, name, optimizer) for name in names]
    for _epoch in range(2):
        for start in range(0, len(x), 8):  # minibatches of 8
            optimizer.zero_grad()
            batch = slice(start, start + 8)
            if accumulate:  # two backward passes before one step: gradients add up
                for half in (slice(start, start + 3), slice(start + 3, start + 8)):
                    nn.functional.cross_entropy(model(x[half]), y[half], reduction="sum").backward()
            else:
                nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():  # no gradient comes back: not recorded
        model(x)
    for recorder in recorders:
        recorder.remove()
    return [recorder.memory() for recorder in recorders]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("accumulate", [False, True])
def test_dual_form_equals_the_trained_layer(bias: bool, accumulate: bool) -> None:
    model = _mlp(bias)
    initial = [model[0].weight.detach().clone(), model[2].weight.detach().clone()]
    first, last = _train(model, ["0", "2"], accumulate=accumulate)
    assert first.keys.shape == (2 * 24, 5 + bias) and last.values.shape == (2 * 24, 3)
    assert torch.equal(first.weight0[:, :5], initial[0])
    assert sorted(set(last.step.tolist())) == list(range(6))  # 3 minibatches x 2 epochs
    test = torch.randn(4, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    hidden = torch.tanh(model[0](test))
    for memory, layer, inputs in ((first, model[0], test), (last, model[2], hidden)):
        trained = layer.weight if not bias else torch.cat([layer.weight, layer.bias[:, None]], 1)
        assert not torch.allclose(trained, memory.weight0)  # training moved it
        torch.testing.assert_close(memory.weight(), trained.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(
            memory.output(inputs), layer(inputs).detach(), rtol=0, atol=1e-12
        )
        # the attention view: W_0 x + Σ_t e_t (x_tᵀ x), term by term
        attention = memory.keys @ memory.augment(inputs).T  # [N, M]
        manual = memory.base(inputs) + (attention[:, :, None] * memory.values[:, None]).sum(0)
        torch.testing.assert_close(manual, layer(inputs).detach(), rtol=0, atol=1e-12)


def test_spotlight_ranks_and_sums_contributions() -> None:
    model = _mlp()
    (memory,) = _train(model, ["2"])
    hidden = torch.tanh(model[0](_data(3, seed=5)[0])).detach()
    predicted = model[2](hidden).argmax(1)
    ids = memory.row + 8 * (memory.step % 3)  # the dataset index of each key (2 epochs, batch 8)
    assert sorted(set(ids.tolist())) == list(range(24))
    full = spotlight(memory, hidden, k=100, unit=predicted, ids=ids)
    assert full.index.shape == (3, 24)  # k is capped at the number of examples
    torch.testing.assert_close(full.output, model[2](hidden).detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(full.contribution.sum(1) + full.base, full.output)
    top = spotlight(memory, hidden, k=4, unit=predicted, ids=ids)
    assert torch.all(top.score[:, :-1] >= top.score[:, 1:])
    assert torch.equal(top.score, full.score[:, :4])
    # each example's contribution is the sum over its two occurrences (one per epoch)
    m, example = 0, int(top.index[0, 0])
    occurrences = (ids == example).nonzero().squeeze(1)
    assert len(occurrences) == 2
    attention = memory.attention(hidden[m : m + 1])[0, occurrences]
    expected = (attention[:, None] * memory.values[occurrences]).sum(0)
    torch.testing.assert_close(top.contribution[m, 0], expected)
    torch.testing.assert_close(top.score[m, 0], expected[predicted[m]])
    lowest = spotlight(memory, hidden, k=2, unit=predicted, ids=ids, largest=False)
    assert torch.equal(lowest.score, full.score[:, -2:].flip(1))
    by_norm = spotlight(memory, hidden, k=3)  # per key, ranked by ‖e_t‖ |x_tᵀ x|
    assert by_norm.index.max() < memory.keys.shape[0]
    torch.testing.assert_close(by_norm.score, by_norm.contribution.norm(dim=-1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: torch.optim.Adam(p, lr=0.1), "plain torch.optim.SGD"),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "momentum"),
        (lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=1e-3), "weight_decay"),
        (lambda p: torch.optim.SGD(p, lr=0.1, maximize=True), "maximize"),
    ],
)
def test_unsupported_optimizers_are_refused(make, message: str) -> None:
    model = _mlp()
    with pytest.raises(ValueError, match=message):
        record_dual(model, "2", make(model.parameters()))


def test_bad_names_and_unexplained_gradients_are_errors() -> None:
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with record_dual(model, "2", optimizer) as recorder:  # a keyword call is seen too
        optimizer.zero_grad()
        x, y = _data(4)
        model[2](input=torch.tanh(model[0](x))).sum().backward()
        optimizer.step()
    assert recorder.memory().keys.shape == (4, 8)
    optimizer.zero_grad()
    with pytest.raises(ValueError, match=r"no module named 'fc'.*'0', '2'"):
        record_dual(model, "fc", optimizer)
    with pytest.raises(TypeError, match=r"not an nn\.Linear"):
        record_dual(model, "1", optimizer)
    with pytest.raises(ValueError, match="not among the optimizer's parameters"):
        record_dual(model, "2", torch.optim.SGD(model[0].parameters(), lr=0.1))
    x, y = _data(8)
    nn.functional.cross_entropy(model(x), y).backward()  # a gradient from before recording
    with record_dual(model, "2", optimizer) as recorder:
        nn.functional.cross_entropy(model(x), y).backward()
        with pytest.raises(RuntimeError, match="do not explain the layer's gradient"):
            optimizer.step()
    optimizer.zero_grad()
    with record_dual(model, "2", optimizer) as recorder:
        nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)  # changes the update
        with pytest.raises(RuntimeError, match="do not explain"):
            optimizer.step()
    assert recorder.memory().keys.shape[0] == 0


def test_spotlight_figure_draws_the_top_examples_and_class_sums() -> None:
    pytest.importorskip("matplotlib", reason="needs matplotlib: pip install fastweights[plots]")
    from fastweights.analysis.plots_dual import dual_spotlight

    model = _mlp()
    (memory,) = _train(model, ["2"])
    ids = memory.row + 8 * (memory.step % 3)
    hidden = torch.tanh(model[0](_data(2, seed=5)[0])).detach()
    unit = model[2](hidden).argmax(1)
    train_labels = _data()[1].numpy()
    images = torch.rand(24, 1, 5, generator=torch.Generator().manual_seed(0)).numpy()
    figure = dual_spotlight(
        memory, hidden, images[:2], images, train_labels, ids, unit, k=3, title="t"
    )
    axes = figure.get_axes()
    assert len(axes) == 2 * (1 + 3 + 1)
    bars = axes[4].patches  # the first row's W0 bar and one bar per training class
    heights = [bar.get_height() for bar in bars]
    output = model[2](hidden).detach()
    assert len(heights) == 1 + len(set(train_labels.tolist()))
    assert abs(sum(heights) - float(output[0, unit[0]])) < 1e-9  # W_0 x + every class = output
    with pytest.raises(ValueError, match="expected 2 test images"):
        dual_spotlight(memory, hidden, images[:1], images, train_labels, ids, unit)


def test_any_linear_of_a_package_model_sequence_inputs_included(make_model) -> None:
    model = make_model("delta").double()  # FWPModel: [B, T] tokens; the projection sees [B, T, D]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randint(0, 5, (3, 6), generator=torch.Generator().manual_seed(0))
    names = ["blocks.0.mixer.project.qkv", "head"]
    recorders = [record_dual(model, name, optimizer) for name in names]
    for _ in range(3):
        optimizer.zero_grad()
        logits, _ = model(x)
        nn.functional.cross_entropy(logits.flatten(0, 1), x.flatten()).backward()
        optimizer.step()
    modules = dict(model.named_modules())
    for recorder, name in zip(recorders, names, strict=True):
        recorder.remove()
        memory, layer = recorder.memory(), modules[name]
        assert memory.keys.shape[0] == 3 * 3 * 6  # steps x batch x tokens
        trained = (
            layer.weight
            if layer.bias is None
            else torch.cat([layer.weight, layer.bias[:, None]], 1)
        )
        torch.testing.assert_close(memory.weight(), trained.detach(), rtol=0, atol=1e-12)
