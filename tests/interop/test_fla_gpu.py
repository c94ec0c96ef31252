"""On a GPU: our published layers equal fla's own layers running fla's kernels.

fla's forward needs CUDA (its Triton kernels), so this runs only on a lent GPU
(``scripts/gpu_check.sh``); on the CPU the tests hold our layers to the transcription of fla's
equations instead (``test_fla_layers.py``).
"""

from __future__ import annotations

import pytest
import torch

from fastweights.interop.fla import from_fla

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="fla's kernels need CUDA")


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("DeltaNet", {}),
        ("DeltaNet", {"use_gate": True}),
        ("GatedDeltaNet", {"head_dim": 64}),
        ("GatedDeltaNet", {"head_dim": 64, "num_v_heads": 8}),
    ],
)
@pytest.mark.parametrize("T", [50, 300])  # fla's fused_recurrent (T <= 64) and chunk kernels
def test_our_layer_equals_fla_s_layer_on_cuda(kind, options, T) -> None:
    layers = pytest.importorskip("fla.layers", reason="fla (flash-linear-attention) not installed")
    torch.manual_seed(0)
    theirs = getattr(layers, kind)(hidden_size=256, num_heads=4, **options).cuda().eval()
    ours = from_fla(theirs).cuda().eval()
    x = torch.randn(2, T, 256, device="cuda")
    with torch.no_grad():
        expected = theirs(x)[0]
        got, _ = ours(x)
    # float32 through fla's kernels (TF32 dots where they use them): a relative budget
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 2e-3 * scale, (kind, options, T)
