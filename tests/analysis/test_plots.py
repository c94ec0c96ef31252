"""The pictures of a Recording: each shows the recorded numbers, on the scales it promises."""

from __future__ import annotations

import io
import itertools
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib", reason="needs matplotlib: pip install fastweights[plots]")

from fastweights.analysis import record
from fastweights.analysis.animation import weights_gif
from fastweights.analysis.attribution import layer_attention
from fastweights.analysis.measures import layer_measures
from fastweights.analysis.plots import PICTURES, draw, pictures_for, png_bytes
from fastweights.analysis.plots_base import pick_steps
from fastweights.analysis.plots_cells import (
    decode_address,
    srnet_reads_writes,
    srwm_rates,
    srwm_submatrices,
    srwm_updates,
)
from fastweights.analysis.plots_graph import graph_view
from fastweights.analysis.plots_series import (
    beta_strip,
    measure_series,
    traffic_heatmap,
)
from fastweights.analysis.plots_weights import (
    filmstrip,
    weight_heatmaps,
    weight_updates,
)
from fastweights.analysis.recording import LayerRecording, Recording
from fastweights.analysis.traffic import layer_traffic


def delta_recording(T: int = 6, H: int = 2, K: int = 3, V: int = 3, seed: int = 0) -> Recording:
    """A delta-rule layer written by hand: W_t = W_{t−1} + β_t (v_t − W_{t−1} k_t) k_tᵀ."""
    rng = np.random.default_rng(seed)
    q, k, v = rng.normal(size=(T, H, K)), rng.normal(size=(T, H, K)), rng.normal(size=(T, H, V))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    beta = rng.uniform(0.1, 0.9, size=(T, H))
    W = np.zeros((H, V, K))
    weights, outputs = [], []
    for t in range(T):
        for h in range(H):
            W[h] += beta[t, h] * np.outer(v[t, h] - W[h] @ k[t, h], k[t, h])
        weights.append(W.copy())
        outputs.append(np.einsum("hvk,hk->hv", W, q[t]))
    layer = LayerRecording(
        layer=0,
        mixer="delta",
        kind="rule",
        steps=np.arange(T),
        heads=list(range(H)),
        inputs={"q": q, "k": k, "v": v, "beta": beta},
        weights=np.stack(weights),
        attention=None,
        output=np.stack(outputs),
        meta={"rule": "delta"},
    )
    tokens = [f"w{t}" for t in range(T)]
    return Recording(tokens, np.arange(T), rng.normal(size=(T, 4)), {0: layer}, {"mixer": "delta"})


def panels(figure) -> list:
    return [axis for axis in figure.axes if axis.images]


def test_heatmaps_show_every_head_at_the_chosen_steps_on_one_symmetric_scale() -> None:
    rec = delta_recording()
    figure = weight_heatmaps(rec, steps=[1, 3, 5])
    shown = panels(figure)
    assert len(shown) == 2 * 3  # heads × steps, row by row
    W = rec.layers[0].weights
    peak = np.abs(W).max()  # over every kept step, not only the shown ones
    for index, axis in enumerate(shown):
        head, step = divmod(index, 3)
        image = axis.images[0]
        np.testing.assert_array_equal(image.get_array(), W[[1, 3, 5][step], head])
        assert image.get_clim() == pytest.approx((-peak, peak))
    assert "w3" in shown[1].get_title()  # the token names the step
    with pytest.raises(ValueError, match="step positions"):
        weight_heatmaps(rec, steps=[6])
    with pytest.raises(ValueError, match="head 5 was not recorded"):
        weight_heatmaps(rec, heads=[5])


def test_filmstrip_tops_are_the_writes_and_bottoms_the_matrix_so_far() -> None:
    rec = delta_recording()
    layer = rec.layers[0]
    deltas, known = weight_updates(layer)
    assert known.all()  # a rule from step 0 starts at zero fast weights
    np.testing.assert_allclose(deltas.sum(0), layer.weights[-1], atol=1e-5)  # telescoping
    # each write is β (v − W k) kᵀ: rank one
    assert all(np.linalg.matrix_rank(d, tol=1e-5) <= 1 for d in deltas.reshape(-1, 3, 3))
    figure = filmstrip(rec, head=1)
    shown = panels(figure)
    assert len(shown) == 2 * 6
    for t in range(6):
        np.testing.assert_array_equal(shown[t].images[0].get_array(), deltas[t, 1])
        np.testing.assert_array_equal(shown[6 + t].images[0].get_array(), layer.weights[t, 1])
    assert shown[6 + 2].get_xlabel() == "w2"


def test_pick_steps_spreads_evenly_and_keeps_the_last() -> None:
    assert pick_steps(5, None, 8) == [0, 1, 2, 3, 4]
    chosen = pick_steps(100, None, 6)
    assert len(chosen) == 6 and chosen[0] == 0 and chosen[-1] == 99
    with pytest.raises(ValueError, match=">= 1"):
        pick_steps(5, None, 0)


def test_series_plot_the_measures_against_the_tokens() -> None:
    rec = delta_recording()
    values = layer_measures(rec.layers[0])
    figure = measure_series(rec, measures=["frobenius_norm", "delta_correction"])
    top, bottom = figure.axes
    for axis, name in ((top, "frobenius_norm"), (bottom, "delta_correction")):
        for head, line in enumerate(axis.get_lines()):
            np.testing.assert_allclose(line.get_ydata(), values[name][:, head])
    assert [t.get_text() for t in bottom.get_xticklabels()] == rec.tokens
    with pytest.raises(ValueError, match="do not apply"):
        measure_series(rec, measures=["no_such_measure"])


def test_beta_sits_under_the_tokens_and_traffic_is_the_recorded_traffic() -> None:
    rec = delta_recording()
    (axis,) = panels(beta_strip(rec))
    np.testing.assert_allclose(axis.images[0].get_array(), rec.layers[0].inputs["beta"].T)
    assert [t.get_text() for t in axis.get_xticklabels()] == rec.tokens
    flow = layer_traffic(rec.layers[0])
    into, out_of = panels(traffic_heatmap(rec, head=1))
    np.testing.assert_allclose(into.images[0].get_array(), flow.targets[:, 1].T)
    np.testing.assert_allclose(out_of.images[0].get_array(), flow.sources[:, 1].T)


def test_graph_view_counts_the_rewiring_between_kept_steps() -> None:
    pytest.importorskip("networkx", reason="needs networkx: pip install fastweights[graph]")
    W = np.zeros((3, 1, 2, 2))  # one head, 2 × 2
    W[0, 0] = [[1.0, 0.0], [0.0, 0.0]]
    W[1, 0] = [[1.0, 0.5], [0.0, 0.0]]  # one edge appears
    W[2, 0] = [[-1.0, 0.5], [0.0, 0.0]]  # one edge flips sign
    layer = LayerRecording(0, "sum", "rule", np.arange(3), [0], {}, W, None, np.zeros((3, 1, 2)))
    rec = Recording(None, np.zeros((3, 4)), np.zeros((3, 2)), {0: layer})
    figure = graph_view(rec)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == [
        "t=0 t=0\nfirst kept step",
        "t=1 t=1\n1 rewired since t=0",
        "t=2 t=2\n1 rewired since t=1",
    ]


def test_attention_beside_softmax(make_model, make_tokens) -> None:
    x = make_tokens(1, 7)
    delta = record(make_model("delta", n_layers=1), x)
    softmax = record(make_model("softmax", n_layers=1), x)
    figure = attention_figure = draw("attention", delta, 0, [softmax])
    shown = panels(attention_figure)
    assert len(shown) == 4  # two rows (delta, softmax) of two heads
    np.testing.assert_allclose(shown[0].images[0].get_array(), layer_attention(delta.layers[0])[0])
    softmax_rows = shown[2].images[0].get_array()
    np.testing.assert_allclose(softmax_rows.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.triu(softmax_rows, 1), 0.0)  # causal
    assert "equivalent" in shown[0].get_title() and "softmax" in shown[2].get_title()
    assert png_bytes(figure).startswith(b"\x89PNG")


def test_srwm_rates_reproduce_its_own_update(make_model, make_tokens) -> None:
    """ΔW_y = β_y · W_y,t−1 (q_t − k_t) ⊗ k_t with q, k = softmax(W_q x), softmax(W_k x)."""
    rec = record(make_model("srwm", n_layers=1), make_tokens(1, 5))
    layer = rec.layers[0]
    rates = srwm_rates(layer, 0)
    assert np.isnan(rates[0]).all() and ((rates[1:] > 0) & (rates[1:] < 1)).all()
    W_y, W_q, W_k = (torch.from_numpy(layer.state[n][:, 0]).double() for n in ("W_y", "W_q", "W_k"))
    x = torch.from_numpy(layer.inputs["x"][:, 0]).double()
    for t in range(1, 5):
        q, k = torch.softmax(W_q[t - 1] @ x[t], -1), torch.softmax(W_k[t - 1] @ x[t], -1)
        update = rates[t, 0] * torch.outer(W_y[t - 1] @ (q - k), k)
        torch.testing.assert_close(W_y[t] - W_y[t - 1], update, atol=1e-5, rtol=1e-4)
    blocks = panels(srwm_submatrices(rec, max_steps=3))
    assert len(blocks) == 4 * 3
    np.testing.assert_allclose(blocks[0].images[0].get_array(), 0.0)  # no change at step 0
    top, bottom = srwm_updates(rec).axes[:2]
    assert len(top.get_lines()) == 4 and len(bottom.get_lines()) == 4


def test_srnet_addresses_decode_to_connections(make_model, make_tokens) -> None:
    codes = np.array([[0, 0, 0, 1], [1, 0, 1, 0], [0.9, 0.2, 0.1, 0.8]])
    index, distance = decode_address(codes)
    assert index.tolist() == [1, 10, 9]
    np.testing.assert_allclose(distance, [0, 0, 0.01 + 0.04 + 0.01 + 0.04])
    rec = record(make_model("srnet1993", n_layers=1), make_tokens(1, 4))
    figure = srnet_reads_writes(rec, head=1)
    grid = next(axis for axis in figure.axes if axis.collections and "W " in axis.get_title())
    R, N = rec.layers[0].weights.shape[-2:]
    reads, _ = decode_address(rec.layers[0].state["ana"][:, 1])
    assert len(grid.collections[0].get_offsets()) == int((reads < R * N).sum())


def test_the_catalogue_matches_each_mixer(make_model, make_tokens) -> None:
    x = make_tokens(1, 4)
    names = {
        m: pictures_for(record(make_model(m, n_layers=1), x).layers[0])
        for m in ("sum", "delta", "srwm", "srnet1993", "softmax", "lstm")
    }
    assert names["delta"] == [
        "weights",
        "filmstrip",
        "measures",
        "beta",
        "traffic",
        "graph",
        "attention",
    ]
    assert "srwm_blocks" in names["srwm"] and "srnet_reads_writes" not in names["srwm"]
    assert "srnet_reads_writes" in names["srnet1993"] and "traffic" not in names["srnet1993"]
    assert names["softmax"] == ["attention"] and names["lstm"] == []
    assert set().union(*names.values()) == set(PICTURES)
    with pytest.raises(ValueError, match="unknown picture"):
        draw("nothing", record(make_model("delta", n_layers=1), x), 0)


def test_gif_has_a_frame_per_kept_step(tmp_path) -> None:
    from PIL import Image

    rec = delta_recording(T=5)
    data = weights_gif(rec, tmp_path / "w.gif", fps=5)
    assert data.startswith(b"GIF89a") and (tmp_path / "w.gif").read_bytes() == data
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 5 and gif.info["duration"] == 200
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=float))
    assert all(np.abs(a - b).sum() > 0 for a, b in itertools.pairwise(frames))
    with Image.open(io.BytesIO(weights_gif(rec, max_frames=2))) as gif:
        assert gif.n_frames == 2
    with pytest.raises(ValueError, match="fps"):
        weights_gif(rec, fps=0)


def test_bad_requests_and_a_missing_extra_are_clear(monkeypatch) -> None:
    rec = delta_recording()
    with pytest.raises(TypeError, match="expected a Recording"):
        weight_heatmaps(rec.layers[0])
    with pytest.raises(ValueError, match="recorded layers: \\[0\\]"):
        filmstrip(rec, layer=3)
    with pytest.raises(ValueError, match="not one of the cells"):
        srwm_updates(rec, layer=0)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"fastweights\[plots\]"):
        weight_heatmaps(rec)
