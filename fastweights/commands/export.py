"""``fwp export RUN --hf DIR [--lm-eval-task TASKS]``: a model as a Hugging Face directory.

``RUN`` is a training run (``fwp train``: its ``config.json`` and ``checkpoint.pt``) of a
language model, or an fla checkpoint directory (``DeltaNetForCausalLM`` /
``GatedDeltaNetForCausalLM``, read by ``fastweights.interop.fla``). ``DIR`` gets the model as
``FWPForCausalLM`` (``config.json``, ``model.safetensors``) and its tokenizer: the run's
``tokenizer.json`` (subword and word-level runs, fla checkpoints that have one), or, for a
character-level run, a character tokenizer with the run's ids (``fastweights.hf.tokenizer``).
``--lm-eval-task TASKS`` also writes the local last-word task (``fastweights.hf.lm_eval_task``)
into ``TASKS``. ``docs/hf.md`` shows the whole path to ``lm_eval``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory (fwp train) or an fla checkpoint directory")
    parser.add_argument("--hf", required=True, metavar="DIR", help="the directory to write")
    parser.add_argument(
        "--lm-eval-task",
        metavar="TASKS",
        default=None,
        help="also write the local lm-eval task fwp_lastword into this folder",
    )


def run(args: argparse.Namespace) -> int:
    from fastweights.hf.export import export_hf
    from fastweights.hf.tokenizer import tokenizer_of
    from fastweights.interop.fla import is_fla_checkpoint, load_fla_checkpoint

    if is_fla_checkpoint(args.run):
        model, task, source = load_fla_checkpoint(args.run), None, "fla checkpoint"
    else:
        from fastweights.train.run_dir import load_run

        task, model, _ = load_run(args.run)
        source = f"run of {type(task).__name__}"
    tokenizer, what = tokenizer_of(args.run, task)
    out = export_hf(model, args.hf, tokenizer)
    config = model.config
    print(f"wrote {out}: FWPForCausalLM from the {source} {args.run} (mixer {config.mixer}, "
          f"{config.n_layers} layers, d_model {config.d_model}, vocab {config.vocab_size}, "
          f"{model.num_parameters():,} parameters)")  # fmt: skip
    print(f"tokenizer: {what}")
    if tokenizer is None:
        print("no tokenizer: the model reads token ids; AutoTokenizer and lm_eval need one")
    if args.lm_eval_task is not None:
        from fastweights.hf.lm_eval_task import write_lastword_task

        print(f"wrote {write_lastword_task(args.lm_eval_task)}")
    return 0
