"""The ops benchmark's GPU paths, checked without a GPU: which cases the grid builds on CUDA
(the Triton kernel forms, fla's forms where fla is installed) and how they are charged FLOPs."""

import argparse

import pytest
import torch

from fastweights.bench import fla
from fastweights.bench.cases import Case
from fastweights.bench.flops import op_flops
from fastweights.commands import bench_ops as ops

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ops.add_arguments(parser)
    return parser.parse_args(list(argv))


def _pairs(cases: list[Case], mode: str) -> set[tuple[str, str]]:
    return {(case.rule, case.form) for case in cases if case.mode == mode}


def test_cuda_grid_offers_the_kernel_forms(monkeypatch) -> None:
    monkeypatch.setattr(ops, "fla_available", lambda: False)
    cases, _ = ops._grid(
        _args("--rules", "sum,delta,gated_delta", "--T", "1024"), ops.DEFAULTS, CUDA
    )
    pairs = _pairs(cases, "fwdbwd")
    for rule in ("sum", "delta", "gated_delta"):
        assert {(rule, "triton_recurrent"), (rule, "chunk")} <= pairs
    assert {("delta", "triton_chunk"), ("gated_delta", "triton_chunk")} <= pairs
    assert ("sum", "triton_chunk") not in pairs  # the sum rule has no chunk kernel
    assert not any(form.startswith("fla") for _, form in pairs)
    cpu_cases, _ = ops._grid(_args("--rules", "delta", "--T", "1024"), ops.DEFAULTS, CPU)
    assert {case.form for case in cpu_cases if case.rule == "delta"} == {"chunk", "recurrent"}


def test_cuda_grid_adds_fla_where_installed(monkeypatch) -> None:
    monkeypatch.setattr(ops, "fla_available", lambda: True)
    argv = ("--rules", "delta,gated_delta", "--forms", "triton_chunk,fla_chunk,fla_recurrent")
    cases, notes = ops._grid(_args(*argv, "--T", "1024,4096", "--no-sdpa"), ops.DEFAULTS, CUDA)
    assert _pairs(cases, "fwd") == {
        (rule, form) for rule in ("delta", "gated_delta") for form in argv[3].split(",")
    }
    # fla 0.6.0's fused recurrent gated delta rule raises in its backward: fwd only
    assert ("gated_delta", "fla_recurrent") not in _pairs(cases, "fwdbwd")
    assert ("delta", "fla_recurrent") in _pairs(cases, "fwdbwd")
    assert any("no backward" in note for note in notes)
    assert [case.T for case in cases if case.mode == "fwd"][:1] == [1024]


def test_kernel_forms_on_cpu_are_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"need --device cuda"):
        ops._grid(_args("--forms", "triton_chunk"), ops.DEFAULTS, CPU)


def test_kernel_forms_are_charged_their_algorithm() -> None:
    size = {"mode": "fwdbwd", "B": 1, "T": 256, "H": 2, "K": 64, "V": 64, "chunk_size": 64}
    chunk = op_flops("delta", "chunk", **size)
    assert op_flops("delta", "triton_chunk", **size) == chunk
    assert chunk == op_flops("delta", "fla_chunk", **size)
    recurrent = op_flops("sum", "recurrent", **size)
    assert op_flops("sum", "triton_recurrent", **size) == recurrent
    assert Case("delta", "triton_chunk", "fwd", 1, 8, 1, 4, 4, 64).uses_chunks
    assert not Case("sum", "triton_recurrent", "fwd", 1, 8, 1, 4, 4, 64).uses_chunks


def test_fla_rule_names_its_function() -> None:
    rule = fla.fla_rule("gated_delta", "fla_chunk")
    assert (rule.function, rule.gates) == ("chunk_gated_delta_rule", ("g",))
    with pytest.raises(ValueError, match=r"no fla function for rule 'sum'"):
        fla.fla_rule("sum", "fla_chunk")
