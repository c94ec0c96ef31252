"""A self-contained HTML report of a recorded run: one file, readable offline, forever.

``render_report(recording, run=None, compare=()) -> str`` walks through a run: the model (its
config and parameter count), the task, the input with its tokens (and, where the run metadata has
them, the targets and the model's answers), then per recorded layer every picture of
``fastweights.analysis.plots.PICTURES`` that applies to its mixer, with a caption saying what it
shows, and the animated GIF of ``W_t``. The SRWM's self-modification and the 1993 net's reads and
writes appear where the run has those cells. ``write_report`` writes it to a file.

Self-contained means: images are embedded as base64 ``data:`` URIs (PNG, GIF), the CSS is inline,
there are no scripts, fonts or links to fetch, and a Content-Security-Policy of
``default-src 'none'`` makes a browser refuse any request the page might still try. Built only
from a ``Recording`` (+ optional run metadata), so it can be regenerated without the model.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastweights import __version__
from fastweights.analysis.recording import LayerRecording, Recording

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_TOKENS = 400  # the input table shows at most this many steps
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:2em}h3{font-size:1.05em;margin:1.4em 0 .3em}
table.kv{border-collapse:collapse;font-size:.9em}table.kv td{padding:.15em .8em .15em 0;
vertical-align:top}table.kv td:first-child{color:#666}
.tokens{display:flex;flex-wrap:wrap;gap:3px;font-family:ui-monospace,monospace;font-size:.8em}
.tok{border:1px solid #ccc;border-radius:3px;padding:1px 4px;text-align:center;min-width:1.6em}
.tok .t{color:#999;font-size:.75em}.tok .y{color:#555}
.ok{background:#e3f5e1}.bad{background:#fbe3e1}
figure{margin:.5em 0 1.5em}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;max-width:900px}.note{color:#8a5a00;font-size:.9em}
nav a{margin-right:1em}footer{margin-top:3em;color:#888;font-size:.8em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(_short(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="kv">{cells}</table>'


def _short(value: Any) -> str:
    if isinstance(value, dict):  # e.g. metrics: "eval_loss 0.0012, eval_accuracy 1"
        text = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {_short(v)}" for k, v in value.items()
        )
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def _parameters(recording: Recording, run: dict[str, Any]) -> str:
    if "parameters" in run:
        return f"{int(run['parameters']):,}"
    model = recording.meta.get("model")
    if not isinstance(model, dict):
        return "unknown (no model config in the recording)"
    from fastweights.models import ModelConfig, count_parameters

    return f"{count_parameters(ModelConfig(**model)):,}"


def _tokens(recording: Recording, run: dict[str, Any]) -> str:
    labels = recording.labels()
    predictions = run.get("predictions")
    if predictions is None and recording.logits.ndim == 2:  # no run metadata: the argmax
        predictions = [str(int(np.argmax(row))) for row in recording.logits]
    padding = [None] * len(labels)
    targets = (list(run.get("targets") or []) + padding)[: len(labels)]
    predictions = (list(predictions or []) + padding)[: len(labels)]
    cells = []
    for t, label in enumerate(labels[:MAX_TOKENS]):
        target, answer = targets[t], predictions[t]
        mark = "" if target is None else (" ok" if answer == target else " bad")
        lines = [f'<div class="t">{t}</div><div>{_e(label)}</div>']
        if target is not None:
            lines.append(f'<div class="y" title="target">{_e(target)}</div>')
        if answer is not None:
            lines.append(f'<div class="y" title="model">→{_e(answer)}</div>')
        cells.append(f'<div class="tok{mark}">{"".join(lines)}</div>')
    more = len(labels) - MAX_TOKENS
    tail = f'<p class="note">… and {more} more steps.</p>' if more > 0 else ""
    legend = (
        "Each box: the step, its input token, the target where the step is scored and the "
        "model's answer (→); green where they agree, red where not."
    )
    return f'<p>{legend}</p><div class="tokens">{"".join(cells)}</div>{tail}'


def _layer(
    recording: Recording,
    index: int,
    layer: LayerRecording,
    compare: Sequence[Recording],
    pictures: Sequence[str] | None,
    gif: bool,
) -> str:
    from fastweights.analysis.animation import weights_gif
    from fastweights.analysis.plots import PICTURES, draw, pictures_for, png_bytes

    shape = "none" if layer.weights is None else "×".join(map(str, layer.weights.shape))
    about = {
        "mixer": f"{layer.mixer} ({layer.kind})",
        "kept steps": f"{len(layer.steps)} of {recording.length}",
        "heads": layer.heads,
        "fast weights [T', H', rows, cols]": shape,
        "output": layer.meta.get("output", ""),
    }
    if "replay_error" in layer.meta:
        about["replay error (max |replayed − model|)"] = f"{layer.meta['replay_error']:.2e}"
    parts = [
        f'<section id="layer-{index}"><h2>Layer {index}: {_e(layer.mixer)}</h2>',
        _table(about),
    ]
    names = [n for n in pictures_for(layer) if pictures is None or n in pictures]
    if not names and layer.weights is None:
        parts.append(f'<p class="note">A {_e(layer.kind)} layer has no fast weights to show.</p>')
    for name in names:
        picture = PICTURES[name]
        try:
            figure = draw(name, recording, index, compare)
        except ImportError as error:  # an optional extra is missing: say so, keep the rest
            parts.append(f'<p class="note">{_e(picture.title)}: skipped ({_e(error)}).</p>')
            continue
        uri = _data_uri(png_bytes(figure), "image/png")
        parts.append(
            f'<figure id="layer-{index}-{name}"><h3>{_e(picture.title)}</h3>'
            f'<img alt="{_e(picture.title)}" src="{uri}">'
            f"<figcaption>{_e(picture.caption)}</figcaption></figure>"
        )
    if gif and layer.weights is not None:
        uri = _data_uri(weights_gif(recording, layer=index), "image/gif")
        parts.append(
            f'<figure id="layer-{index}-gif"><h3>W_t over the sequence (animated)</h3>'
            f'<img alt="animation of the fast weights" src="{uri}"><figcaption>'
            "One frame per kept step: each head's fast weights after the step, the "
            "token underneath, one colour scale for all frames.</figcaption></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_report(
    recording: Recording,
    *,
    run: dict[str, Any] | None = None,
    compare: Sequence[Recording] = (),
    pictures: Sequence[str] | None = None,
    gif: bool = True,
) -> str:
    """The report as one HTML string.

    ``run``: optional metadata of the run (``run``, ``source``, ``train``, ``metrics``,
    ``parameters``, per-step ``targets``/``predictions`` as strings or None); ``compare``: other
    recordings on the same input (e.g. a softmax model's) for the attention picture;
    ``pictures``: names from ``PICTURES`` to limit the report to (default all that apply);
    ``gif``: embed the animation of ``W_t``.
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"expected a Recording, got {type(recording).__name__}")
    run = dict(run or {})
    from fastweights.analysis.plots import PICTURES

    unknown = sorted(set(pictures or ()) - set(PICTURES))
    if unknown:
        raise ValueError(f"unknown pictures {unknown}; known: {', '.join(PICTURES)}")
    meta = recording.meta
    mixer = meta.get("mixer") or next(iter(recording.layers.values())).mixer
    task = meta.get("task", "an unnamed task")
    title = f"{mixer} on {task}"
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    model_rows = {"parameters": _parameters(recording, run), **model}
    task_rows = {"task": task, **meta.get("task_config", {})}
    task_rows["input"] = run.get("source", f"sample {meta.get('sample', 0)} of a batch")
    for key in ("run", "metrics", "train"):
        if key in run:
            task_rows[key] = run[key]
    nav = "".join(f'<a href="#layer-{i}">layer {i}</a>' for i in sorted(recording.layers))
    body = [
        f"<header><h1>{_e(title)}</h1><p>What the fast weights of a {_e(mixer)} model did "
        f"on one input of {recording.length} steps, recorded every {_e(meta.get('every', 1))} "
        f"step(s).</p></header>",
        f'<nav><a href="#model">model</a><a href="#task">task</a><a href="#input">input</a>'
        f"{nav}</nav>",
        f'<section id="model"><h2>Model</h2>{_table(model_rows)}</section>',
        f'<section id="task"><h2>Task and run</h2>{_table(task_rows)}</section>',
        f'<section id="input"><h2>Input</h2>{_tokens(recording, run)}</section>',
    ]
    for index in sorted(recording.layers):
        body.append(_layer(recording, index, recording.layers[index], compare, pictures, gif))
    body.append(
        f"<footer>fastweights {_e(__version__)}: fwp inspect. Self-contained: every image "
        "is embedded, nothing is fetched.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_report(
    recording: Recording,
    path: str | Path,
    *,
    run: dict[str, Any] | None = None,
    compare: Sequence[Recording] = (),
    pictures: Sequence[str] | None = None,
    gif: bool = True,
) -> Path:
    """Write ``render_report(...)`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write the report: no folder {path.parent}")
    text = render_report(recording, run=run, compare=compare, pictures=pictures, gif=gif)
    path.write_text(text, encoding="utf-8")
    return path
