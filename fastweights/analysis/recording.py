"""``Recording``: what one run of a model on one sample left in its layers, as plain numpy arrays.

A recording is made by ``fastweights.analysis.record`` (hooks plus a replay of each layer's
``step``) and read by the measures, the graph view, the plots and the report, none of which
needs the model. Per layer (``LayerRecording``):

- ``steps [T']``: the time indices kept (every n-th step, always the last);
- ``heads``: the head indices kept;
- ``inputs``: what the rule or cell saw at the kept steps, ``[T', H', ...]``;
- ``weights [T', H', rows, cols]``: the fast weight matrix after step t in the papers'
  orientation (``W = Sᵀ``, ``o = W q``); for cells their main fast matrix; None for softmax
  attention and the LSTM;
- ``attention [H', T, T]``: softmax attention's full causal matrix (None otherwise);
- ``output``: the per-head output at the kept steps (``meta["output"]`` says which output);
- ``state``: a cell's every state tensor per kept step, ``[T', H', ...]`` (empty for rules).

``save`` writes one ``.npz`` (``np.savez_compressed``; the non-array fields as one JSON entry, no
pickle); ``load`` reads it back and raises ``FileNotFoundError``/``ValueError`` for a missing or
corrupt file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "fastweights.recording/1"
KINDS = ("rule", "cell", "attention", "lstm")


@dataclass
class LayerRecording:
    """One layer of a ``Recording`` (see the module docstring for every field's layout)."""

    layer: int
    mixer: str
    kind: str
    steps: np.ndarray
    heads: list[int]
    inputs: dict[str, np.ndarray]
    weights: np.ndarray | None
    attention: np.ndarray | None
    output: np.ndarray
    state: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.layer}: kind must be one of {KINDS}, got {self.kind!r}")
        self.steps = np.asarray(self.steps, dtype=np.int64)
        if self.steps.ndim != 1:
            raise ValueError(f"layer {self.layer}: steps must be 1-D, got {self.steps.shape}")
        self.heads = [int(h) for h in self.heads]
        self.inputs = {name: _float(a) for name, a in self.inputs.items()}
        self.state = {name: _float(a) for name, a in self.state.items()}
        self.weights = None if self.weights is None else _float(self.weights)
        self.attention = None if self.attention is None else _float(self.attention)
        self.output = _float(self.output)
        n = len(self.steps)
        for name, array in self._time_major().items():
            if array.shape[0] != n:
                raise ValueError(
                    f"layer {self.layer}: {name} must have {n} kept steps at dim 0, "
                    f"got shape {array.shape}"
                )

    def _time_major(self) -> dict[str, np.ndarray]:
        arrays = {f"inputs/{k}": a for k, a in self.inputs.items()}
        arrays |= {f"state/{k}": a for k, a in self.state.items()}
        arrays["output"] = self.output
        if self.weights is not None:
            arrays["weights"] = self.weights
        return arrays


@dataclass
class Recording:
    """One sample's run: inputs, outputs and the recorded layers (keyed by block index)."""

    tokens: list[str] | None
    inputs: np.ndarray
    logits: np.ndarray
    layers: dict[int, LayerRecording]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = np.asarray(self.inputs)
        if self.inputs.dtype.kind == "f":
            self.inputs = self.inputs.astype(np.float32)
        self.logits = _float(self.logits)
        if self.tokens is not None and len(self.tokens) != self.inputs.shape[0]:
            raise ValueError(
                f"tokens must label each of the {self.inputs.shape[0]} input steps, "
                f"got {len(self.tokens)} labels"
            )

    @property
    def length(self) -> int:
        """T, the number of input steps."""
        return int(self.inputs.shape[0])

    def labels(self) -> list[str]:
        """A label per input step: the tokens, or ``t=0, t=1, ...`` for vector inputs."""
        return (
            list(self.tokens) if self.tokens is not None else [f"t={t}" for t in range(self.length)]
        )

    def save(self, path: str | Path) -> None:
        """Write one compressed ``.npz`` (arrays as entries, everything else as JSON)."""
        arrays: dict[str, np.ndarray] = {"inputs": self.inputs, "logits": self.logits}
        layers = []
        for index, layer in self.layers.items():
            prefix = f"layer{index}/"
            arrays[prefix + "steps"] = layer.steps
            for name, array in layer._time_major().items():
                arrays[prefix + name] = array
            if layer.attention is not None:
                arrays[prefix + "attention"] = layer.attention
            layers.append(
                {
                    "index": int(index),
                    "layer": layer.layer,
                    "mixer": layer.mixer,
                    "kind": layer.kind,
                    "heads": layer.heads,
                    "inputs": list(layer.inputs),
                    "state": list(layer.state),
                    "meta": layer.meta,
                }
            )
        header = {"format": FORMAT, "tokens": self.tokens, "meta": self.meta, "layers": layers}
        arrays["header"] = np.array(json.dumps(header, default=_jsonable))
        path = Path(path)
        with path.open("wb") as f:  # a file object: savez would otherwise append ".npz"
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a file written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no recording at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
            raise ValueError(f"{path} is not a readable recording (.npz): {error}") from error
        if "header" not in arrays:
            raise ValueError(f"{path} is not a recording: it has no 'header' entry")
        try:
            header = json.loads(str(arrays.pop("header")))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: corrupt recording header: {error}") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise ValueError(f"{path}: expected format {FORMAT!r}, got {found!r}")
        try:
            return cls._from_arrays(header, arrays)
        except KeyError as error:
            raise ValueError(f"{path}: corrupt recording, missing entry {error}") from error

    @classmethod
    def _from_arrays(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Recording:
        layers = {}
        for info in header["layers"]:
            prefix = f"layer{info['index']}/"
            layers[int(info["index"])] = LayerRecording(
                layer=info["layer"],
                mixer=info["mixer"],
                kind=info["kind"],
                steps=arrays[prefix + "steps"],
                heads=info["heads"],
                inputs={name: arrays[f"{prefix}inputs/{name}"] for name in info["inputs"]},
                weights=arrays.get(prefix + "weights"),
                attention=arrays.get(prefix + "attention"),
                output=arrays[prefix + "output"],
                state={name: arrays[f"{prefix}state/{name}"] for name in info["state"]},
                meta=info["meta"],
            )
        return cls(header["tokens"], arrays["inputs"], arrays["logits"], layers, header["meta"])


def _float(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _jsonable(value: Any) -> Any:
    """JSON for the numpy scalars, arrays, tuples and paths that configs carry."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a recording's meta: {value!r}")
