"""The UCI handwritten digits (optdigits, 8×8), vendored, split by handwriting form.

Data: E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository (1998), https://doi.org/10.24432/C50P49, licence CC BY 4.0. The file
``fastweights/tasks/data/uci_digits.csv.gz`` is the copy that scikit-learn ships
(``sklearn/datasets/data/digits.csv.gz``, the UCI *test* set): 1797 rows of 64 pixel counts
(0–16: the on pixels of a 4×4 block of a 32×32 bitmap) and the digit label.

**The split.** The UCI set has no writer ids, but its rows come in 14 runs that each follow the
preprinted form's sequence of 130 digits (0–9 three times, then a fixed order; a run may miss a
few), i.e. one run per filled-in form (``FORM_STARTS``, found by aligning the labels to that
sequence; the UCI notes say 13 people wrote this set). The train split is
forms 0–9 (rows 0–1286), the test split forms 10–13 (rows 1287–1796, 51 ± 1 per digit): the
test digits come from forms never seen in training. The classes are the same ten digits in both
splits, so the digits test new *examples* (and the per-episode label assignment), not new
classes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from fastweights.tasks.fewshot.imageset import ImageSet, resize

SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
N_ROWS = 1797
FORM_STARTS = (0, 130, 256, 386, 516, 646, 776, 906, 1029, 1157, 1287, 1415, 1545, 1667)
TRAIN_FORMS = 10  # forms 0-9 train, 10-13 test
SPLITS = ("train", "test")


def data_path() -> Path:
    """The vendored ``uci_digits.csv.gz``."""
    return Path(__file__).resolve().parents[1] / "data" / "uci_digits.csv.gz"


def load_digits(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels [n, 8, 8] uint8 in 0..16, labels [n] int64)`` from a digits ``.csv.gz``
    (default: the vendored file, whose SHA-256 is checked); read-only arrays, parsed once."""
    return _load(data_path() if path is None else Path(path).resolve())


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"no UCI digits file at {path}")
    raw = path.read_bytes()
    if path == data_path() and hashlib.sha256(raw).hexdigest() != SHA256:
        raise ValueError(f"{path} is corrupt: its SHA-256 is not {SHA256}")
    try:
        text = gzip.decompress(raw).decode("ascii")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a gzipped CSV: {error}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split(",")
        if len(fields) != 65 or not all(f.strip().isdigit() for f in fields):
            raise ValueError(
                f"{path} line {number}: expected 65 comma-separated integers (64 pixels, the "
                f"label), got {line[:80]!r}"
            )
        rows.append([int(f) for f in fields])
    table = np.array(rows, dtype=np.int64).reshape(-1, 65)
    pixels, labels = table[:, :64], table[:, 64]
    if len(table) == 0 or pixels.max() > 16 or labels.max() > 9:
        raise ValueError(f"{path}: pixels must be in 0..16 and labels in 0..9")
    pixels = pixels.reshape(-1, 8, 8).astype(np.uint8)
    pixels.setflags(write=False)  # shared by every caller
    labels.setflags(write=False)
    return pixels, labels


def digits_split(split: str, image_size: int = 8) -> ImageSet:
    """The ``"train"`` (forms 0–9) or ``"test"`` (forms 10–13) digits, one class per digit,
    ink scaled from 0..16 to 0..255 and resized to ``image_size``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    pixels, labels = load_digits()
    if len(labels) != N_ROWS:
        raise ValueError(f"the vendored digits have {len(labels)} rows, expected {N_ROWS}")
    boundary = FORM_STARTS[TRAIN_FORMS]
    rows = slice(0, boundary) if split == "train" else slice(boundary, N_ROWS)
    images = torch.tensor(pixels[rows], dtype=torch.int64)
    images = resize((images * 255 + 8).div(16, rounding_mode="floor").to(torch.uint8), image_size)
    y = torch.tensor(labels[rows])
    groups = [images[y == digit] for digit in range(10)]
    return ImageSet.from_groups(groups, [str(digit) for digit in range(10)])
