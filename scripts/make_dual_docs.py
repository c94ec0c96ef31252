"""Make docs/images/dual/spotlight.png: the dual form of an SGD-trained digits classifier.

    .venv/bin/python scripts/make_dual_docs.py [--out docs/images/dual]

Trains a 64-32-10 MLP (float64, plain SGD, minibatches of 32) on the vendored UCI digits' train
forms, records the output layer's dual form with ``fastweights.analysis.dual.record_dual``,
checks that the dual output equals the trained layer on the test forms, prints the numbers
and draws which training images three correct and one wrong test prediction spotlight.
Needs the ``plots`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from fastweights.analysis.dual import record_dual
from fastweights.analysis.plots_base import png_bytes
from fastweights.analysis.plots_dual import dual_spotlight
from fastweights.tasks.fewshot.digits import FORM_STARTS, TRAIN_FORMS, load_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/dual")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    pixels, labels = load_digits()
    images = torch.tensor(pixels, dtype=torch.float64) / 16.0  # [1797, 8, 8] in 0..1
    x, y = images.reshape(-1, 64), torch.tensor(labels)
    split = FORM_STARTS[TRAIN_FORMS]  # forms 0-9 train, 10-13 test
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

    torch.manual_seed(0)  # nn.Linear's init takes no generator
    model = nn.Sequential()
    model.add_module("hidden", nn.Linear(64, 32))
    model.add_module("act", nn.Tanh())
    model.add_module("out", nn.Linear(32, 10))
    model = model.double()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(0)
    order = []  # the dataset index of every recorded key, in recording order
    with record_dual(model, "out", optimizer) as recorder:
        for _ in range(args.epochs):
            permutation = torch.randperm(split, generator=generator)
            for batch in permutation.split(32):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
                optimizer.step()
                order.append(batch)
    memory = recorder.memory()
    ids = torch.cat(order)  # [N]

    with torch.no_grad():
        hidden = torch.tanh(model.hidden(x_test))
        logits = model.out(hidden)
    dual = memory.output(hidden)
    predicted = logits.argmax(1)
    accuracy = float((predicted == y_test).double().mean())
    gap = float((dual - logits).abs().max())
    print(f"train {split} digits, test {len(y_test)}; {args.epochs} epochs, batch 32, lr {args.lr}")
    print(
        f"keys (training patterns) recorded: {memory.keys.shape[0]} of width {memory.keys.shape[1]}"
    )
    print(f"test accuracy {accuracy:.4f}; max |dual - layer| over the test logits {gap:.3e}")

    right = (predicted == y_test).nonzero().squeeze(1)
    wrong = (predicted != y_test).nonzero().squeeze(1)
    shown = torch.cat([right[torch.tensor([0, 100, 200])], wrong[:1]])
    figure = dual_spotlight(
        memory,
        hidden[shown],
        images[split:][shown].numpy(),
        images[:split].numpy(),
        y_train.numpy(),
        ids,
        predicted[shown],
        test_labels=y_test[shown].numpy(),
        k=5,
        title="the output layer as attention over its 12,870 training patterns: the test "
        "predictions' top-5 training examples (a = x_t·x, c = contribution to the predicted logit)",
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spotlight.png").write_bytes(png_bytes(figure, dpi=80))
    print(f"wrote {out / 'spotlight.png'}")


if __name__ == "__main__":
    main()
