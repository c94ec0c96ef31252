"""Sequential N-way K-shot few-shot learning (Irie et al. 2022, arXiv:2202.05780) on three image
sources: the vendored UCI digits, an Omniglot-like glyph set rendered from fonts, and a local
Omniglot. ``FewShot`` is the task (``episodes``); ``oracle`` and ``nearest_neighbour`` are
reference solvers; ``load_split`` reads a source's split once per process."""

from __future__ import annotations

from fastweights.tasks.fewshot.episodes import LABEL_MODES, Episode, FewShot
from fastweights.tasks.fewshot.glyphs import GlyphSet, default_cache_dir, glyph_set
from fastweights.tasks.fewshot.imageset import ImageSet
from fastweights.tasks.fewshot.oracle import nearest_neighbour, oracle
from fastweights.tasks.fewshot.sources import SOURCES, load_split

__all__ = [
    "LABEL_MODES",
    "SOURCES",
    "Episode",
    "FewShot",
    "GlyphSet",
    "ImageSet",
    "default_cache_dir",
    "glyph_set",
    "load_split",
    "nearest_neighbour",
    "oracle",
]
