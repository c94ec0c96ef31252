"""``pack_documents``: next-token targets within each document, and no leakage across them.

(Named apart from ``tests/models/test_packing.py``: the test folders have no ``__init__.py``, so
two test files of one name would clash.)
"""

from __future__ import annotations

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks.packing import pack_documents


def test_targets_stay_inside_each_document() -> None:
    docs = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6], dtype=torch.int32)]
    x, y, mask, cu_seqlens = pack_documents(docs)
    assert x.tolist() == [[1, 2, 3, 4, 5, 6]] and x.dtype == torch.int64
    assert y.tolist() == [[2, 3, 0, 0, 6, 0]]
    assert mask.tolist() == [[True, True, False, False, True, False]]
    assert cu_seqlens.tolist() == [0, 3, 4, 6] and cu_seqlens.dtype == torch.int32


def test_no_gradient_of_one_documents_loss_reaches_another() -> None:
    torch.manual_seed(0)
    config = ModelConfig(mixer="delta_conv", d_model=8, n_layers=2, n_heads=2, vocab_size=7)
    model = FWPModel(config).double()
    generator = torch.Generator().manual_seed(0)
    docs = [torch.randint(0, 7, (n,), generator=generator) for n in (4, 5, 3)]
    x, y, mask, cu_seqlens = pack_documents(docs)
    embeddings = []  # the embedded inputs, whose gradients show what each loss read
    model.embed.register_forward_hook(lambda _m, _i, out: embeddings.append(out) or out)
    logits, _ = model(x, cu_seqlens=cu_seqlens)
    inputs = embeddings[0]  # [ΣT, d]: the packed path embeds the packed tokens
    second = mask[0].clone()
    second[:4], second[9:] = False, False  # the second document's scored positions
    loss = torch.nn.functional.cross_entropy(logits[0][second], y[0][second])
    (grad,) = torch.autograd.grad(loss, inputs)
    reach = grad.abs().sum(-1)  # [ΣT]
    assert bool((reach[4:8] > 0).all())  # its scored inputs (its last token predicts nothing)
    assert float(reach[:4].sum() + reach[9:].sum()) == 0.0  # nothing of the other documents


@pytest.mark.parametrize(
    ("documents", "error", "match"),
    [
        ([], ValueError, "non-empty sequence"),
        (torch.tensor([1, 2]), ValueError, "non-empty sequence"),
        ([[1, 2]], TypeError, r"document 0 must be a torch\.Tensor"),
        ([torch.tensor([1]), torch.tensor([], dtype=torch.int64)], ValueError, "document 1"),
        ([torch.tensor([[1, 2]])], ValueError, "1-D int32/int64"),
        ([torch.tensor([1.0, 2.0])], ValueError, "1-D int32/int64"),
    ],
)
def test_bad_documents(documents: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        pack_documents(documents)  # type: ignore[arg-type]
