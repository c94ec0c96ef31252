"""``compile_model``: ``torch.compile(model, fullgraph=True)`` for any ``FWPModel``.

Every mixer's default form traces as one graph (``tests/models/test_compile.py`` holds the
compiled forward and gradients equal to eager for each). ``nn.LSTM`` (the ``lstm`` baseline) is
traced only with PyTorch's ``torch._dynamo.config.allow_rnn`` switch, which this turns on.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def compile_model(model: nn.Module, **options: Any) -> nn.Module:
    """``model`` compiled as one graph (``fullgraph=True``); ``options`` go to ``torch.compile``.

    The compiled module shares its parameters with ``model``: train through it, save
    ``model.state_dict()``.
    """
    torch._dynamo.config.allow_rnn = True  # trace nn.LSTM instead of refusing it
    return torch.compile(model, fullgraph=True, **options)
