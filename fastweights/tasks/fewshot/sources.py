"""Loading a few-shot source's split, once per process.

``load_split(...)`` returns the ``ImageSet`` of a split and keeps it in a module-level dict
keyed by everything that defines it, so tasks built from the same configuration (the train and
test splits of one run, a task rebuilt by ``fwp eval``) share one copy and nothing is loaded
before the first episode is drawn. ``clear()`` empties the dict.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastweights.tasks.fewshot.digits import digits_split
from fastweights.tasks.fewshot.glyphs import glyph_set
from fastweights.tasks.fewshot.imageset import ImageSet
from fastweights.tasks.fewshot.omniglot import load_omniglot

SOURCES = ("digits", "glyphs", "omniglot")
GLYPH_SPLITS = {"train": "background", "test": "evaluation"}

_LOADED: dict[tuple, ImageSet] = {}


def clear() -> None:
    """Forget the loaded splits (the glyph cache files on disk stay)."""
    _LOADED.clear()


def load_split(
    source: str,
    split: str,
    image_size: int,
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_drawers: int = 20,
    max_characters: int = 55,
    data_seed: int = 0,
) -> ImageSet:
    """The ``"train"`` or ``"test"`` split of ``source`` at ``image_size`` (see ``FewShot``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if split not in GLYPH_SPLITS:
        raise ValueError(f"split must be one of {tuple(GLYPH_SPLITS)}, got {split!r}")
    if source == "digits":
        key: tuple = (source, split, image_size)
    elif source == "omniglot":
        if root is None:
            raise ValueError("source='omniglot' needs root=<the folder that holds omniglot-py>")
        key = (source, split, image_size, str(Path(root).expanduser().resolve()))
    else:
        folder = None if cache_dir is None else str(Path(cache_dir).expanduser().resolve())
        key = (source, split, image_size, folder, n_drawers, max_characters, data_seed)
    if key in _LOADED:
        return _LOADED[key]
    if source == "digits":
        images = digits_split(split, image_size)
    elif source == "omniglot":
        images = load_omniglot(root, split, image_size)  # type: ignore[arg-type]
    else:  # one glyph set holds both splits: keep both, not the whole set
        glyphs = glyph_set(image_size, n_drawers, max_characters, data_seed, cache_dir=folder)
        for name, alphabets in GLYPH_SPLITS.items():
            _LOADED[(source, name, *key[2:])] = glyphs.split(alphabets)
        return _LOADED[key]
    _LOADED[key] = images
    return images
