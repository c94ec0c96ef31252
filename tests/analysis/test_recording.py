"""``Recording.save``/``load``: a plain .npz that round-trips, and clear errors for bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from fastweights.analysis import LayerRecording, Recording, record


def _layer(kind: str, index: int, rng: np.random.Generator) -> LayerRecording:
    T, H, K, V = 3, 2, 4, 5
    weights = None if kind in ("attention", "lstm") else rng.normal(size=(T, H, V, K))
    attention = np.tril(rng.random((H, 4, 4))) if kind == "attention" else None
    state = {"W_y": rng.normal(size=(T, H, K, K)), "h": rng.normal(size=(T, H, K))}
    return LayerRecording(
        layer=index, mixer={"rule": "delta", "cell": "srwm"}.get(kind, kind), kind=kind,
        steps=np.array([0, 2, 3]), heads=[0, 1],
        inputs={"q": rng.normal(size=(T, H, K)), "beta": rng.random((T, H))},
        weights=weights, attention=attention, output=rng.normal(size=(T, H, V)),
        state=state if kind == "cell" else {}, meta={"rows": [["W_y", 4]], "replay_error": 0.0},
    )  # fmt: skip


def _recording() -> Recording:
    rng = np.random.default_rng(0)
    layers = {
        i: _layer(kind, i, rng) for i, kind in enumerate(("rule", "cell", "attention", "lstm"))
    }
    meta = {"model": {"mixer": "delta", "mixer_options": {}}, "sample": 0, "heads": (0, 1)}
    return Recording(["a", "b", "c", "d"], np.arange(4), rng.normal(size=(4, 5)), layers, meta)


def _assert_same(a: Recording, b: Recording) -> None:
    assert a.tokens == b.tokens and a.meta == b.meta and a.layers.keys() == b.layers.keys()
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.logits, b.logits)
    for i, x in a.layers.items():
        y = b.layers[i]
        assert (x.layer, x.mixer, x.kind, x.heads, x.meta) == (y.layer, y.mixer, y.kind, y.heads,
                                                              y.meta)  # fmt: skip
        np.testing.assert_array_equal(x.steps, y.steps)
        for name in ("weights", "attention", "output"):
            left, right = getattr(x, name), getattr(y, name)
            assert (left is None) == (right is None), name
            if left is not None:
                np.testing.assert_array_equal(left, right)
                assert right.dtype == np.float32
        for field in ("inputs", "state"):
            assert getattr(x, field).keys() == getattr(y, field).keys()
            for key, value in getattr(x, field).items():
                np.testing.assert_array_equal(value, getattr(y, field)[key])


def test_round_trip(tmp_path):
    recording = _recording()
    recording.meta["heads"] = [0, 1]  # JSON has no tuples: what comes back is a list
    path = tmp_path / "run.rec"  # any name: save does not append a suffix
    recording.save(path)
    assert path.is_file() and zipfile.is_zipfile(path)
    _assert_same(recording, Recording.load(path))


def test_round_trip_of_a_real_recording(tmp_path, make_model, make_tokens):
    recording = record(make_model("gated_delta"), make_tokens(2, 5), sample=1, every=2, heads=[1])
    recording.save(tmp_path / "r.npz")
    loaded = Recording.load(tmp_path / "r.npz")
    _assert_same(recording, loaded)
    assert loaded.meta["model"]["mixer"] == "gated_delta" and loaded.layers[0].steps.tolist() == [
        0, 2, 4,
    ]  # fmt: skip


def test_the_file_holds_no_pickles(tmp_path):
    _recording().save(tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz", allow_pickle=False) as data:  # would raise on object arrays
        assert all(data[name].dtype != object for name in data.files)


def test_labels_for_vector_inputs():
    recording = Recording(None, np.zeros((3, 2)), np.zeros((3, 1)), {}, {})
    assert recording.labels() == ["t=0", "t=1", "t=2"] and recording.length == 3


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no recording"):
        Recording.load(tmp_path / "absent.npz")


@pytest.mark.parametrize(
    "content",
    [b"not a zip file at all", b"PK\x03\x04 truncated zip header"],
    ids=["garbage", "truncated"],
)
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable recording"):
        Recording.load(path)


def test_truncated_recording(tmp_path):
    path = tmp_path / "r.npz"
    _recording().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        Recording.load(path)


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: what a crafted object array would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_recording_with_a_pickled_object_array_is_refused_and_never_runs_it(tmp_path):
    path, marker = tmp_path / "r.npz", tmp_path / "payload-ran"
    _recording().save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    with path.open("wb") as f:
        np.savez(f, **{**arrays, "inputs": payload})
    with pytest.raises(ValueError, match=r"not a readable recording .* allow_pickle=False"):
        Recording.load(path)
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as data:
        data["inputs"]  # the payload is live: a pickle-allowing load runs it
    assert marker.exists()


def test_npz_that_is_not_a_recording(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'header'"):
        Recording.load(tmp_path / "other.npz")
    np.savez(tmp_path / "future.npz", header=np.array('{"format": "something/9"}'))
    with pytest.raises(ValueError, match="expected format"):
        Recording.load(tmp_path / "future.npz")


def test_missing_entry(tmp_path):
    path = tmp_path / "r.npz"
    recording = _recording()
    recording.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != "layer0/output"}
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="missing entry"):
        Recording.load(path)


def test_layer_checks():
    rng = np.random.default_rng(0)
    layer = _layer("rule", 0, rng)
    with pytest.raises(ValueError, match="kind"):
        LayerRecording(0, "delta", "tensor", layer.steps, [0], {}, None, None, layer.output)
    with pytest.raises(ValueError, match="kept steps"):
        LayerRecording(0, "delta", "rule", np.arange(2), [0], {}, None, None, layer.output)
    with pytest.raises(ValueError, match="label each"):
        Recording(["a"], np.arange(4), np.zeros((4, 5)), {}, {})


def test_meta_must_be_json(tmp_path):
    recording = _recording()
    recording.meta["bad"] = object()
    with pytest.raises(TypeError, match="cannot store"):
        recording.save(tmp_path / "r.npz")
