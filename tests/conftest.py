"""Test-wide settings.

The tests run tiny tensors: OpenMP threads add overhead there, and on small VMs idle workers can
stall for a long time (../shared/CPU-NOTES.md), so the suite runs torch on one thread.
Benchmarks measure with the thread count they report; tests never time anything.
"""

import torch

torch.set_num_threads(1)
