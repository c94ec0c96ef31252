"""Speed and efficacy benchmarks (scripts, never part of pytest).

`ops` times the learning-rule forms against causal SDPA (`fwp bench ops`); `flops` holds the FLOP
counts behind its GFLOP/s; `measure` holds how time, memory and the machine are measured.
"""
