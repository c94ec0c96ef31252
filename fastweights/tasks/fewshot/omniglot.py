"""Omniglot (Lake, Salakhutdinov, Tenenbaum 2015) read from a local copy in torchvision's layout.

Nothing is downloaded: point ``root`` at a folder that holds ``omniglot-py`` as
``torchvision.datasets.Omniglot(root, download=True)`` leaves it (or at ``omniglot-py`` itself)::

    <root>/omniglot-py/images_background/<Alphabet>/<character>/<image>.png   (train: 30 alphabets)
    <root>/omniglot-py/images_evaluation/<Alphabet>/<character>/<image>.png   (test: 20 alphabets)

Each character (class) has 20 drawings, 105×105 black ink on white. They are read with Pillow
(a matplotlib dependency: ``pip install fastweights[plots]``), inverted so that ink is high, and
area-averaged to ``image_size``. Classes are ordered by alphabet, then character, by name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fastweights.tasks.fewshot.imageset import ImageSet, resize

FOLDERS = {"train": "images_background", "test": "images_evaluation"}
LAYOUT = (
    "<root>/omniglot-py/images_background/<Alphabet>/<character>/<image>.png "
    "(and images_evaluation)"
)


def _image_module():
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError(
            "reading Omniglot's PNGs needs Pillow (installed with matplotlib): "
            "pip install fastweights[plots]"
        ) from None
    return Image, UnidentifiedImageError


def split_folder(root: str | os.PathLike, split: str) -> Path:
    """The folder of ``split`` under ``root`` (``FileNotFoundError`` naming the layout)."""
    if split not in FOLDERS:
        raise ValueError(f"split must be one of {tuple(FOLDERS)}, got {split!r}")
    root = Path(root).expanduser()
    for base in (root / "omniglot-py", root):
        if (base / FOLDERS[split]).is_dir():
            return base / FOLDERS[split]
    raise FileNotFoundError(
        f"no Omniglot {FOLDERS[split]} under {root}; expected torchvision's layout {LAYOUT}"
    )


def _subfolders(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise ValueError(f"{folder} is empty; expected one folder per alphabet/character")
    return found


def _read(path: Path) -> np.ndarray:
    """One PNG as ``[h, w]`` float32 ink in ``[0, 1]`` (white background → 0)."""
    Image, UnidentifiedImageError = _image_module()
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"cannot read Omniglot image {path}: {error}") from None
    return 1.0 - grey


def load_omniglot(root: str | os.PathLike, split: str, image_size: int = 28) -> ImageSet:
    """The characters of the ``"train"`` (background) or ``"test"`` (evaluation) alphabets."""
    folder = split_folder(root, split)
    groups, names = [], []
    for alphabet in _subfolders(folder):
        for character in _subfolders(alphabet):
            paths = sorted(character.glob("*.png"))
            if not paths:
                raise ValueError(f"{character} has no .png images")
            ink = [_read(path) for path in paths]
            if len({a.shape for a in ink}) != 1:
                raise ValueError(f"the images in {character} differ in size")
            stack = torch.from_numpy(np.stack(ink))  # [n, h, w] in [0, 1]
            if stack.shape[1] != stack.shape[2]:
                raise ValueError(f"the images in {character} are not square: {stack.shape[1:]}")
            groups.append(resize((stack * 255).round().to(torch.uint8), image_size))
            names.append(f"{alphabet.name}/{character.name}")
    return ImageSet.from_groups(groups, names)
