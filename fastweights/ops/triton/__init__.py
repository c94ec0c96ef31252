"""Triton kernels for the learning rules and cells (optional extra ``fastweights[triton]``).

Imported only when a caller asks for a Triton form (``impl="triton_chunk"`` or
``"triton_recurrent"``); ``import fastweights`` never imports triton. The modules here never
import the PyTorch rule files: the shared semantics (device rules, autotune bypass, allocation)
live in ``common``.

* ``common``: import guard, ``interpreting()``, ``autotune``, ``empty``/``nan_filled``.
* ``recurrent``: fused recurrent kernels (sum, delta, gated delta), forward and backward.
* ``chunk_fwd``, ``chunk_bwd``, ``chunk``: chunkwise (WY/UT) kernels for delta and gated delta,
  forward and backward, and their launchers.
* ``library``: the ``torch.library`` custom ops (fake implementations, autograd).
* ``forms``: the rule forms the rules register (``"triton_chunk"``, ``"triton_recurrent"``).
* ``srwm``: the self-referential weight matrix's fused recurrent kernel (the ``srwm`` cell's
  ``"triton_recurrent"`` form).

See ``docs/kernels.md``.

Kernel modules are imported by their users, not here, so that importing this package stays cheap
and one kernel module's problem cannot break another's.
"""

from fastweights.ops.triton.common import empty, interpreting, nan_filled

__all__ = ["empty", "interpreting", "nan_filled"]
