"""The few-shot sources' loaders: the vendored UCI digits and a local Omniglot (on a tiny fake
tree of PNGs written here), with their errors."""

from __future__ import annotations

import difflib
import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from fastweights.tasks.fewshot import FewShot, ImageSet, oracle
from fastweights.tasks.fewshot.digits import (
    FORM_STARTS,
    N_ROWS,
    TRAIN_FORMS,
    data_path,
    digits_split,
    load_digits,
)
from fastweights.tasks.fewshot.imageset import resize
from fastweights.tasks.fewshot.omniglot import load_omniglot

# --- UCI digits ---------------------------------------------------------------------------------


def test_vendored_digits_are_the_uci_test_set() -> None:
    assert data_path().stat().st_size < 100_000
    pixels, labels = load_digits()
    assert pixels.shape == (N_ROWS, 8, 8) and pixels.dtype == np.uint8
    assert pixels.max() == 16 and set(labels.tolist()) == set(range(10))
    assert np.bincount(labels).min() >= 170  # 174-183 per digit in the UCI test set


def test_form_boundaries_follow_the_preprinted_form() -> None:
    """Each run between FORM_STARTS matches the 130-digit sequence of the first form."""
    _, labels = load_digits()
    text = "".join(map(str, labels.tolist()))
    form = text[: FORM_STARTS[1]]
    assert len(form) == 130
    bounds = (*FORM_STARTS, N_ROWS)
    for a, b in itertools.pairwise(bounds):
        match = difflib.SequenceMatcher(None, form, text[a:b], autojunk=False)
        assert match.ratio() > 0.95, (a, b)
        # a boundary one digit later would break the next run's alignment
        shifted = difflib.SequenceMatcher(None, form, text[a + 10 : b + 10], autojunk=False)
        assert shifted.ratio() < match.ratio()


def test_digit_splits_are_disjoint_form_ranges() -> None:
    train, test = digits_split("train"), digits_split("test")
    assert train.names == test.names == tuple(str(d) for d in range(10))
    boundary = FORM_STARTS[TRAIN_FORMS]
    assert len(train.images) == boundary and len(test.images) == N_ROWS - boundary
    assert int(test.count.min()) >= 45
    pixels, labels = load_digits()
    scaled = torch.tensor(pixels, dtype=torch.int64) * 255
    scaled = (scaled + 8).div(16, rounding_mode="floor").to(torch.uint8)
    # class 3 of the test split is exactly the 3s after the boundary, in file order
    rows = np.flatnonzero(labels == 3)
    expected = scaled[torch.from_numpy(rows[rows >= boundary])]
    c = test.start[3]
    assert torch.equal(test.images[c : c + test.count[3]], expected)


def test_digits_resize() -> None:
    big = digits_split("train", image_size=16)
    assert big.images.shape[1:] == (16, 16)
    task = FewShot(image_size=16)
    assert task.sample(2, torch.Generator()).x.shape[-1] == 256 + 6


def test_digit_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_digits(tmp_path / "missing.csv.gz")
    (tmp_path / "plain.csv.gz").write_text("not gzip")
    with pytest.raises(ValueError, match="gzipped CSV"):
        load_digits(tmp_path / "plain.csv.gz")
    (tmp_path / "short.csv.gz").write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(ValueError, match="65 comma-separated"):
        load_digits(tmp_path / "short.csv.gz")
    row = ",".join(["17"] * 64 + ["3"])
    (tmp_path / "range.csv.gz").write_bytes(gzip.compress(row.encode()))
    with pytest.raises(ValueError, match=r"0\.\.16"):
        load_digits(tmp_path / "range.csv.gz")


# --- image sets ---------------------------------------------------------------------------------


def test_image_set_checks() -> None:
    images = torch.zeros(5, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(images.float(), torch.tensor([0]), torch.tensor([5]), ("a",))
    with pytest.raises(ValueError, match="one per name"):
        ImageSet(images, torch.tensor([0, 2]), torch.tensor([2, 3]), ("a",))
    with pytest.raises(ValueError, match="run past"):
        ImageSet(images, torch.tensor([0]), torch.tensor([6]), ("a",))
    with pytest.raises(ValueError, match="at least one class"):
        ImageSet(images, torch.tensor([0]), torch.tensor([0]), ("a",))


def test_resize_area_keeps_the_mean() -> None:
    images = torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8)
    small = resize(images, 4)
    assert small.shape == (3, 4, 4)
    expected = images.float().view(3, 4, 3, 4, 3).mean((2, 4))
    assert float((small.float() - expected).abs().max()) <= 0.5


# --- Omniglot (torchvision layout) ----------------------------------------------------------


def _write_png(path: Path, ink: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).convert("1").save(path)


def _fake_omniglot(root: Path, n_alphabets: int = 2, n_characters: int = 3, n_drawers: int = 4):
    """A tiny omniglot-py tree: 20×20 binary images; character j of alphabet a draws a bar at
    row 2 + 3j (+a) so that classes differ; drawer d shifts it by d columns."""
    for split in ("images_background", "images_evaluation"):
        for a in range(n_alphabets):
            for j in range(n_characters):
                for d in range(n_drawers):
                    ink = np.zeros((20, 20), dtype=bool)
                    ink[2 + 3 * j + a + (split == "images_evaluation"), d : d + 10] = True
                    name = f"{split}/Alphabet_{a}/character{j + 1:02d}/{j:04d}_{d + 1:02d}.png"
                    _write_png(root / "omniglot-py" / name, ink)


def test_omniglot_reads_the_torchvision_layout(tmp_path: Path) -> None:
    pytest.importorskip(
        "PIL", reason="needs Pillow (comes with matplotlib): pip install fastweights[plots]"
    )
    _fake_omniglot(tmp_path)
    data = load_omniglot(tmp_path, "train", image_size=10)
    assert data.names == tuple(f"Alphabet_{a}/character{j:02d}" for a in (0, 1) for j in (1, 2, 3))
    assert data.images.shape == (24, 10, 10) and data.count.tolist() == [4] * 6
    # ink is high: one bar of 10 pixels in 20×20 → half a row's ink after 2× area averaging
    first = data.images[0].float() / 255
    assert abs(float(first.sum()) - 10 / 4) < 0.05 and abs(float(first.max()) - 0.5) < 0.01
    # root may also be the omniglot-py folder itself
    assert load_omniglot(tmp_path / "omniglot-py", "test", 10).n_classes == 6
    test = load_omniglot(tmp_path, "test", 10)
    assert not torch.equal(test.images, data.images)


def test_omniglot_few_shot_task(tmp_path: Path) -> None:
    pytest.importorskip(
        "PIL", reason="needs Pillow (comes with matplotlib): pip install fastweights[plots]"
    )
    _fake_omniglot(tmp_path, n_alphabets=3, n_characters=2, n_drawers=5)
    task = FewShot("omniglot", n_way=5, k_shot=2, n_queries=3, root=str(tmp_path), image_size=10)
    episode = task.episode(8, torch.Generator().manual_seed(0))
    assert episode.x.shape == (8, 13, 100 + 6)
    assert torch.equal(oracle(task, episode)[episode.mask], episode.y[episode.mask])
    assert task.test_split().images().names == task.images().names  # same names, other folder
    with pytest.raises(ValueError, match="distinct examples per class"):
        FewShot("omniglot", k_shot=3, n_queries=3, root=str(tmp_path), image_size=10).sample(
            2, torch.Generator()
        )


def test_omniglot_errors(tmp_path: Path) -> None:
    pytest.importorskip(
        "PIL", reason="needs Pillow (comes with matplotlib): pip install fastweights[plots]"
    )
    with pytest.raises(FileNotFoundError, match="omniglot-py/images_background"):
        load_omniglot(tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError, match="torchvision's layout"):
        FewShot("omniglot", root=str(tmp_path)).sample(2, torch.Generator())
    base = tmp_path / "omniglot-py" / "images_background"
    base.mkdir(parents=True)
    with pytest.raises(ValueError, match="is empty"):
        load_omniglot(tmp_path, "train")
    (base / "Alphabet" / "character01").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no \.png images"):
        load_omniglot(tmp_path, "train")
    (base / "Alphabet" / "character01" / "0001_01.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read Omniglot image"):
        load_omniglot(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        load_omniglot(tmp_path, "valid")
