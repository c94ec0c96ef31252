"""fastweights: Fast Weight Programmers in PyTorch.

Learning rules (linear attention, DeltaNet, gated delta rule, ...) live in `fastweights.ops`;
the `fwp` command line lives in `fastweights.cli`. Importing this package loads nothing heavy.
"""

__version__ = "0.1.0"
