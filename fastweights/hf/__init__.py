"""fastweights in the Hugging Face ecosystem (the ``hf`` extra: transformers, safetensors).

``FWPConfig`` / ``FWPForCausalLM`` (``model_type = "fwp"``), registered with ``AutoConfig`` and
``AutoModelForCausalLM`` when this package is imported; ``FWPCache`` (every block's state, O(1)
in the length for the fast-weight mixers) behind ``generate``; ``export_hf`` writes a model (a
training run's, an fla checkpoint's) as a directory that ``from_pretrained``, ``AutoTokenizer``
and ``lm_eval --model hf`` read (``fwp export RUN --hf DIR``); ``write_lastword_task`` writes
a local lm-evaluation-harness task from the vendored text. ``docs/hf.md`` shows the whole path.
"""

try:
    import transformers  # noqa: F401
except ImportError:
    raise ImportError(
        "fastweights.hf needs transformers and safetensors: pip install 'fastweights[hf]'"
    ) from None

from transformers import AutoConfig, AutoModelForCausalLM

from fastweights.hf.cache import FWPCache
from fastweights.hf.config import MODEL_TYPE, FWPConfig
from fastweights.hf.model import FWPForCausalLM

AutoConfig.register(MODEL_TYPE, FWPConfig, exist_ok=True)
AutoModelForCausalLM.register(FWPConfig, FWPForCausalLM, exist_ok=True)

__all__ = ["MODEL_TYPE", "FWPCache", "FWPConfig", "FWPForCausalLM"]
