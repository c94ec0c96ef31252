"""An ``FWPModel`` language model written as a Hugging Face model directory (``export_hf``).

The directory holds ``config.json`` (``FWPConfig``, ``model_type = "fwp"``), the weights as
``model.safetensors``, a ``generation_config.json``, the tokenizer where one is given
(``tokenizer.json`` + ``tokenizer_config.json``, read by ``AutoTokenizer``) and two one-line
modules, ``configuration_fwp.py`` and ``modeling_fwp.py``, that ``config.json``'s ``auto_map``
names: they import the classes from the installed ``fastweights`` package, so a program that
never imports ``fastweights`` (``lm_eval --model hf``) reads the directory with
``trust_remote_code=True``; a program that imports ``fastweights.hf`` needs no remote code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastweights.hf.checks import model_type
from fastweights.hf.config import MODEL_TYPE, FWPConfig
from fastweights.hf.model import FWPForCausalLM
from fastweights.hf.tokenizer import fast_tokenizer
from fastweights.models import FWPModel

AUTO_MAP = {"AutoConfig": "configuration_fwp.FWPConfig",
            "AutoModelForCausalLM": "modeling_fwp.FWPForCausalLM"}  # fmt: skip
SHIMS = {
    "configuration_fwp.py": "FWPConfig",
    "modeling_fwp.py": "FWPForCausalLM",
}


def export_hf(model: FWPModel, out: str | Path, tokenizer: Any = None) -> Path:
    """Write ``model`` (and ``tokenizer``, a ``tokenizers.Tokenizer``) to the directory ``out``."""
    out = Path(out)
    _check_target(out)
    specials: dict[str, int] = {}
    if tokenizer is not None:
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        if size > model.config.vocab_size:  # a model may have more ids than it uses
            raise ValueError(f"the tokenizer has {size} tokens, more than the model's "
                             f"vocab_size {model.config.vocab_size}")  # fmt: skip
        wrapped = fast_tokenizer(tokenizer)
        for name in ("eos_token_id", "pad_token_id", "unk_token_id"):
            if getattr(wrapped, name) is not None:
                specials[name] = int(getattr(wrapped, name))
    specials.pop("unk_token_id", None)
    config = FWPConfig.from_model_config(model.config, auto_map=dict(AUTO_MAP), **specials)
    hf = FWPForCausalLM(config)
    hf.model.load_state_dict(model.state_dict())
    hf.eval()
    out.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging

    logging.disable_progress_bar()  # the bar of one small file is noise on the command line
    try:
        hf.save_pretrained(out, safe_serialization=True)
    finally:
        logging.enable_progress_bar()
    for file, name in SHIMS.items():
        (out / file).write_text(
            f'"""{name} for trust_remote_code: the class of the installed fastweights package."""'
            f"\n\nfrom fastweights.hf import {name}\n\n__all__ = [{name!r}]\n"
        )
    if tokenizer is not None:
        wrapped.save_pretrained(out)
    return out


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        kind = model_type(out)
        if kind != MODEL_TYPE:
            raise ValueError(f"{out} is not empty and not a fastweights export (model_type "
                             f"{kind!r}): give a new or empty directory")  # fmt: skip
