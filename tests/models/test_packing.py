"""Packed (``cu_seqlens``) and padded (``attention_mask``) documents equal each document alone."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from fastweights.models import FWPModel, ModelConfig
from fastweights.models.packing import PerDocument, document_states
from fastweights.nn import MIXERS

LENGTHS = [3, 6, 1, 6]  # distinct lengths 1, 3, 6: three segments, two documents end together
VOCAB = 11


def make_model(mixer: str, **options: Any) -> FWPModel:
    torch.manual_seed(0)
    fields = {"d_model": 8, "n_layers": 2, "n_heads": 2, "mlp_ratio": 2, "vocab_size": VOCAB}
    return FWPModel(ModelConfig(mixer=mixer, **{**fields, **options})).double()


def documents(lengths: list[int] = LENGTHS) -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(0, VOCAB, (n,), generator=generator) for n in lengths]


def cu_seqlens(lengths: list[int]) -> Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])


def assert_same_state(a: Any, b: Any) -> None:
    if isinstance(a, Tensor):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
        return
    assert type(a) is type(b) and len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert_same_state(x, y)


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_packed_equals_each_document_alone(mixer: str) -> None:
    model, docs = make_model(mixer), documents()
    logits, states = model(torch.cat(docs)[None], cu_seqlens=cu_seqlens(LENGTHS))
    alone = [model(doc[None]) for doc in docs]
    assert logits.shape == (1, sum(LENGTHS), VOCAB) and len(states) == 2
    expected = torch.cat([out[0] for out, _ in alone])
    torch.testing.assert_close(logits[0], expected, rtol=0, atol=1e-10)
    for n, (_, state) in enumerate(alone):  # each document's state, as if it ran alone
        assert_same_state(document_states(model, states, n), state)


@pytest.mark.parametrize("mixer", ["delta_conv", "lstm", "srwm"])
def test_batched_states_carry_every_document_on(mixer: str) -> None:
    model, docs = make_model(mixer), documents()
    _, states = model(torch.cat(docs)[None], cu_seqlens=cu_seqlens(LENGTHS))
    assert not any(isinstance(s, PerDocument) for s in states)  # fixed-size states batch
    more = torch.randint(0, VOCAB, (len(docs), 2), generator=torch.Generator().manual_seed(2))
    carried, _ = model(more, states)  # [N, 2, VOCAB]
    for n, doc in enumerate(docs):
        whole, _ = model(torch.cat([doc, more[n]])[None])
        torch.testing.assert_close(carried[n], whole[0, -2:], rtol=0, atol=1e-10)


def test_key_value_caches_of_equal_documents_batch() -> None:
    model, docs = make_model("transformer"), documents([4, 4])
    _, states = model(torch.cat(docs)[None], cu_seqlens=cu_seqlens([4, 4]))
    assert states[0][0].shape == (2, 2, 4, 4)  # [N, H, T, D]: one cache length, one batch


@pytest.mark.parametrize("mixer", ["delta_conv", "transformer", "lstm", "srnet1993"])
def test_attention_mask_left_and_right_padding_equal_each_sequence_alone(mixer: str) -> None:
    model, docs = make_model(mixer), documents()
    T = max(LENGTHS) + 1
    ids = torch.full((len(docs), T), 5)  # pads hold a real token id: they must not matter
    mask = torch.zeros(len(docs), T, dtype=torch.int64)
    sides = ["right", "left", "both", "right"]
    for n, (doc, side) in enumerate(zip(docs, sides, strict=True)):
        start = {"right": 0, "left": T - len(doc), "both": 1}[side]
        ids[n, start : start + len(doc)], mask[n, start : start + len(doc)] = doc, 1
    logits, states = model(ids, attention_mask=mask)
    assert logits.shape == (len(docs), T, VOCAB)
    assert bool((logits[mask == 0] == 0).all())  # 0 at the pads
    for n, doc in enumerate(docs):
        out, state = model(doc[None])
        torch.testing.assert_close(logits[n][mask[n].bool()], out[0], rtol=0, atol=1e-10)
        assert_same_state(document_states(model, states, n), state)


@pytest.mark.parametrize("how", ["last", "mean"])
def test_pooling_reads_each_document(how: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig(mixer="delta", d_model=8, n_layers=1, n_heads=2, d_input=3, n_out=4,
                         pool=how)  # fmt: skip
    model = FWPModel(config).double()
    docs = [torch.randn(n, 3, dtype=torch.float64) for n in LENGTHS]
    scores, _ = model(torch.cat(docs)[None], cu_seqlens=cu_seqlens(LENGTHS))
    expected = torch.cat([model(doc[None])[0] for doc in docs])  # [N, 4]
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-10)
    x = torch.zeros(2, 7, 3, dtype=torch.float64)
    x[0, :3], x[1, 4:] = docs[0], docs[0]  # right and left padding
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]])
    padded, _ = model(x, attention_mask=mask)
    torch.testing.assert_close(padded, expected[[0, 0]], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ([0, 5, 4, 16], "strictly increasing"),
        ([0, 5, 5, 16], "strictly increasing"),
        ([0, 5, 17], "from 0 to ΣT=16"),
        ([1, 5, 16], "from 0 to ΣT=16"),
        ([0], "from 0 to ΣT=16"),
    ],
)
def test_bad_cu_seqlens_is_one_clear_error(bounds: list[int], match: str) -> None:
    model = make_model("delta")
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(1, 16, dtype=torch.int64), cu_seqlens=torch.tensor(bounds))


def test_bad_cu_seqlens_type_shape_and_packing() -> None:
    model, ids = make_model("delta"), torch.zeros(1, 16, dtype=torch.int64)
    with pytest.raises(ValueError, match="1-D int32/int64 tensor"):
        model(ids, cu_seqlens=torch.tensor([0.0, 16.0]))
    with pytest.raises(ValueError, match="1-D int32/int64 tensor"):
        model(ids, cu_seqlens=torch.tensor([[0, 16]]))
    with pytest.raises(TypeError, match=r"cu_seqlens must be a torch\.Tensor"):
        model(ids, cu_seqlens=[0, 16])
    with pytest.raises(ValueError, match=r"packed as \[1, ΣT\], got B=2"):
        model(ids.expand(2, 16), cu_seqlens=torch.tensor([0, 16]))
    with pytest.raises(ValueError, match="not both"):
        model(ids, cu_seqlens=torch.tensor([0, 16]), attention_mask=torch.ones(1, 16))
    _, states = model(ids)
    with pytest.raises(ValueError, match="states=None"):
        model(ids, states, cu_seqlens=torch.tensor([0, 16]))


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        ([[1, 0, 1, 1]], "one run of 1s"),  # a hole
        ([[0, 0, 0, 0]], "one run of 1s"),  # an empty row
        ([[1, 2, 1, 0]], "only 0 .pad. and 1 .token."),
        ([[1.0, 0.5, 0.0, 0.0]], "only 0 .pad. and 1 .token."),
        ([[1, 1, 1]], r"must be \[B, T\] = \[1, 4\]"),
    ],
)
def test_bad_attention_mask_is_one_clear_error(mask: list[list[float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_model("delta")(torch.zeros(1, 4, dtype=torch.int64), attention_mask=torch.tensor(mask))
