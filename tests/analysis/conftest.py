"""Tiny models and inputs shared by the analysis tests (as fixtures returning factories)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from fastweights.models.model import FWPModel, ModelConfig


def _tiny_model(mixer: str, *, seed: int = 0, **config: object) -> FWPModel:
    """2 blocks, d_model 8, 2 heads of 4, vocabulary 5, no MLP: fast on one thread."""
    torch.manual_seed(seed)  # the parameters' init has no generator argument
    options = {"d_model": 8, "n_heads": 2, "n_layers": 2, "mlp_ratio": 0, "vocab_size": 5}
    return FWPModel(ModelConfig(mixer=mixer, **(options | config)))


def _tokens(batch: int, length: int, seed: int = 0, vocab: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=generator)


@pytest.fixture
def make_model() -> Callable[..., FWPModel]:
    return _tiny_model


@pytest.fixture
def make_tokens() -> Callable[..., torch.Tensor]:
    return _tokens
