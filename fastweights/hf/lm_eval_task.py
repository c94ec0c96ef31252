"""A local lm-evaluation-harness task from the vendored text: last-word prediction.

LAMBADA's form (Paperno et al. 2016, arXiv:1606.06031) on the vendored Shakespeare
(``fastweights.tasks.text``), no download: every speech of the text's test part (its last 5%,
which no run trains on) with at least ``min_words`` words is one document; the context is the
speech up to its last word, the target that word with the whitespace before it (trailing
punctuation cut off). ``write_lastword_task(folder)`` writes ``fwp_lastword.jsonl`` (one
``{"context", "target"}`` per line) and ``fwp_lastword.yaml``, the task over that file (its path
absolute), for ``lm_eval --include_path folder --tasks fwp_lastword``. lm-eval scores the
target's log-likelihood: ``acc`` is the share of targets that greedy decoding gives whole,
``perplexity`` is ``exp(-mean log-likelihood)`` per target word.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastweights.tasks.text import read_vendored, split_bounds

TASK = "fwp_lastword"
_LAST_WORD = re.compile(r"(?s)(.*\S)(\s+)([A-Za-z][A-Za-z']*)[^A-Za-z']*")

YAML = """\
# lm-evaluation-harness task over {jsonl} (written by fastweights.hf.lm_eval_task)
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {jsonl}
test_split: test
output_type: loglikelihood
doc_to_text: context
doc_to_target: target
target_delimiter: ""
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def lastword_documents(text: str, min_words: int = 12) -> list[dict[str, str]]:
    """The documents of ``text``: one per speech (paragraph) of at least ``min_words`` words."""
    documents = []
    for speech in re.split(r"\n\s*\n", text):
        speech = speech.strip("\n")
        match = _LAST_WORD.fullmatch(speech)
        if match is None or len(speech.split()) < min_words:
            continue
        documents.append({"context": match[1], "target": match[2] + match[3]})
    return documents


def write_lastword_task(folder: str | Path, min_words: int = 12) -> Path:
    """Write the task's JSONL and YAML into ``folder``; the YAML's path."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    text = read_vendored()
    start, end = split_bounds(len(text), "test")
    # the test part starts inside a speech: its first (cut) paragraph is dropped
    part = text[start:end].split("\n\n", 1)[-1]
    documents = lastword_documents(part, min_words)
    if not documents:
        raise ValueError(f"no speech of the test text has {min_words} words or more")
    jsonl = folder / f"{TASK}.jsonl"
    jsonl.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents))
    yaml = folder / f"{TASK}.yaml"
    yaml.write_text(YAML.format(task=TASK, jsonl=json.dumps(str(jsonl))))
    return yaml
