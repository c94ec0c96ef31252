"""An Omniglot-like glyph set rendered from real fonts, cached as an ``.npz`` file.

Alphabets are Unicode blocks and characters are code points (``blocks``); the drawers are fonts
(``fonts``) plus random distortions (``distort``). Building a set, for ``image_size`` S:

1. the characters: for each block (background blocks first, then evaluation blocks), its
   candidates in code-point order that some font draws, skipping glyphs with almost no ink and
   **look-alikes**: a character whose clean image (first font that has it, S×S, 3×3 blurred) has
   cosine similarity > ``DUPLICATE`` with an already kept character of any alphabet (Latin A,
   Greek Α and Cyrillic А are one character, kept in the first alphabet; so no evaluation
   character copies a background one). Up to ``max_characters`` per alphabet; a block with
   fewer than ``min(MIN_CHARACTERS, max_characters)`` is dropped;
2. the examples: drawer ``j`` of a character draws it in the ``j mod n``-th of the ``n`` fonts
   that have it, on a canvas of at least ``max(2S, 48)`` pixels, then distorts it with draws from
   ``torch.Generator().manual_seed(seed)`` and shrinks it to S×S (``canvas_size``).

The result is deterministic given the configuration, the font files and matplotlib's FreeType.
It is written to ``<cache_dir>/glyphs-<S>px-<hash>.npz``, the hash covering the configuration,
the font files (names and sizes), matplotlib's, FreeType's and Unicode's versions, the block
table, the rules above and ``FORMAT``, so a second construction only reads the file (written
atomically: a temporary file, then a rename).
``cache_dir`` defaults to ``$FASTWEIGHTS_CACHE/glyphs``, else ``~/.cache/fastweights/glyphs``.
A cache file that cannot be read or does not match its configuration is **rebuilt** with a
``RuntimeWarning`` naming it (it is only a cache: the set can always be rendered again).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fastweights.tasks.fewshot.blocks import BLOCKS, SPLITS, candidates
from fastweights.tasks.fewshot.distort import DISTORTION, distort
from fastweights.tasks.fewshot.fonts import Rasteriser, discover_fonts
from fastweights.tasks.fewshot.imageset import ImageSet

FORMAT = 1
DUPLICATE = 0.95  # cosine similarity of blurred clean images above which glyphs look alike
MIN_CHARACTERS = 10
MIN_INK = 0.01  # fraction of full ink below which a glyph is not a character (a dot, a space)
_CHUNK = 64  # characters distorted per batch
_FIELDS = ("images", "codepoints", "alphabet", "alphabets", "splits", "fonts", "drawer_font")


@dataclass(frozen=True)
class GlyphSet:
    """The rendered set: ``images [C, D, S, S]`` uint8 (D drawers of C characters)."""

    images: Tensor
    codepoints: Tensor  # [C] int64
    alphabet: Tensor  # [C] int64, index into alphabets
    alphabets: tuple[str, ...]
    splits: tuple[str, ...]  # per alphabet: "background" or "evaluation"
    fonts: tuple[str, ...]  # font file names
    drawer_font: Tensor  # [C, D] int64, index into fonts

    def split(self, name: str) -> ImageSet:
        """The characters of the ``"background"`` or ``"evaluation"`` alphabets."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        keep = [a for a, split in enumerate(self.splits) if split == name]
        rows = torch.isin(self.alphabet, torch.tensor(keep, dtype=torch.int64))
        C, D, S = int(rows.sum()), self.images.shape[1], self.images.shape[-1]
        names = [
            f"{self.alphabets[a]}/U+{c:04X}"
            for a, c in zip(
                self.alphabet[rows].tolist(), self.codepoints[rows].tolist(), strict=True
            )
        ]
        start = torch.arange(C, dtype=torch.int64) * D
        count = torch.full((C,), D, dtype=torch.int64)
        return ImageSet(self.images[rows].reshape(C * D, S, S), start, count, tuple(names))


def default_cache_dir() -> Path:
    """``$FASTWEIGHTS_CACHE/glyphs``, else ``~/.cache/fastweights/glyphs``."""
    root = os.environ.get("FASTWEIGHTS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fastweights") / "glyphs"


def canvas_size(image_size: int) -> int:
    """The master canvas: a multiple of ``image_size``, at least twice it and at least 48."""
    return image_size * max(2, -(-48 // image_size))


def _clean(master: np.ndarray, size: int) -> np.ndarray:
    """A master canvas area-averaged to ``size × size`` (the canvas is a multiple of it)."""
    f = master.shape[0] // size
    return master.reshape(size, f, size, f).mean(axis=(1, 3))


def _blurred_unit(image: np.ndarray) -> np.ndarray:
    """An image, 3×3 box-blurred and scaled to unit length, flattened (for cosine similarity)."""
    padded = np.pad(image, 1)
    h, w = image.shape
    blur = sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)).ravel()
    return blur / max(float(np.linalg.norm(blur)), 1e-12)


def _choose_characters(
    rasteriser: Rasteriser, size: int, max_characters: int
) -> list[tuple[int, int, list[int]]]:
    """``(block index, code point, fonts that have it)`` of the kept characters (step 1)."""
    charmaps = rasteriser.charmaps()
    order = [i for split in SPLITS for i, b in enumerate(BLOCKS) if b.split == split]
    kept: list[tuple[int, int, list[int]]] = []
    bank = np.zeros((0, size * size), dtype=np.float32)  # [kept, S²] unit vectors
    for b in order:
        mine: list[tuple[int, int, list[int]]] = []
        refs = bank
        for c in candidates(BLOCKS[b]):
            have = [f for f, charmap in enumerate(charmaps) if c in charmap]
            if not have:
                continue
            clean = _clean(rasteriser.render(have[0], c), size)
            if float(clean.mean()) < MIN_INK:
                continue
            ref = _blurred_unit(clean)
            if len(refs) and float((refs @ ref).max()) > DUPLICATE:
                continue
            mine.append((b, c, have))
            refs = np.concatenate([refs, ref[None]])
            if len(mine) == max_characters:
                break
        if len(mine) >= min(MIN_CHARACTERS, max_characters):
            kept += mine
            bank = refs
    return kept


def build_glyph_set(
    image_size: int, n_drawers: int, max_characters: int, seed: int, fonts: list[Path]
) -> GlyphSet:
    """Render the set (no cache; see the module docstring)."""
    rasteriser = Rasteriser(fonts, canvas_size(image_size))
    chosen = _choose_characters(rasteriser, image_size, max_characters)
    if not chosen:
        raise ValueError(f"the fonts {[f.name for f in fonts]} draw no alphabet of BLOCKS")
    generator = torch.Generator().manual_seed(seed)
    drawer_font = torch.tensor(
        [[have[j % len(have)] for j in range(n_drawers)] for _, _, have in chosen]
    )  # [C, D]
    C, D, S = len(chosen), n_drawers, image_size
    images = torch.empty(C * D, S, S, dtype=torch.uint8)
    for first in range(0, C, _CHUNK):  # distort _CHUNK characters' examples at a time
        masters = []
        for i in range(first, min(first + _CHUNK, C)):
            c, fonts_of = chosen[i][1], drawer_font[i].tolist()
            drawn = {f: rasteriser.render(f, c) for f in set(fonts_of)}
            masters += [drawn[f] for f in fonts_of]
        stack = torch.from_numpy(np.stack(masters))  # [chunk·D, M, M]
        out = distort(stack, S, generator)
        images[first * D : first * D + len(out)] = (out * 255).round().to(torch.uint8)
    images = images.view(C, D, S, S)
    blocks = sorted({b for b, _, _ in chosen})
    return GlyphSet(
        images=images,
        codepoints=torch.tensor([c for _, c, _ in chosen], dtype=torch.int64),
        alphabet=torch.tensor([blocks.index(b) for b, _, _ in chosen], dtype=torch.int64),
        alphabets=tuple(BLOCKS[b].name for b in blocks),
        splits=tuple(BLOCKS[b].split for b in blocks),
        fonts=tuple(f.name for f in fonts),
        drawer_font=drawer_font,
    )


def _cache_key(
    image_size: int, n_drawers: int, max_characters: int, seed: int, fonts: list[Path]
) -> str:
    import matplotlib
    from matplotlib import ft2font

    return json.dumps({
        "format": FORMAT, "image_size": image_size, "n_drawers": n_drawers,
        "max_characters": max_characters, "seed": seed,
        "fonts": [[f.name, f.stat().st_size] for f in fonts],
        "matplotlib": matplotlib.__version__, "freetype": ft2font.__freetype_version__,
        "unicode": unicodedata.unidata_version, "blocks": [list(b) for b in BLOCKS],
        "rules": [DUPLICATE, MIN_CHARACTERS, MIN_INK, DISTORTION],
    }, sort_keys=True)  # fmt: skip


def _save(path: Path, key: str, glyphs: GlyphSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    arrays = {
        "images": glyphs.images.numpy(), "codepoints": glyphs.codepoints.numpy(),
        "alphabet": glyphs.alphabet.numpy(), "alphabets": np.array(glyphs.alphabets),
        "splits": np.array(glyphs.splits), "fonts": np.array(glyphs.fonts),
        "drawer_font": glyphs.drawer_font.numpy(),
    }  # fmt: skip
    try:
        with open(tmp, "wb") as sink:
            np.savez_compressed(sink, key=np.array(key), **arrays)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    finally:
        tmp.unlink(missing_ok=True)


def _load(path: Path, key: str, image_size: int, n_drawers: int) -> GlyphSet:
    """The cached set; ``ValueError`` when the file is not a complete set for ``key``."""
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in ("key", *_FIELDS) if name not in data.files]
        if missing:
            raise ValueError(f"missing arrays {missing}")
        if str(data["key"]) != key:
            raise ValueError("made for another configuration or other fonts")
        arrays = {name: data[name] for name in _FIELDS}
    glyphs = GlyphSet(
        images=torch.from_numpy(arrays["images"]),
        codepoints=torch.from_numpy(arrays["codepoints"]).long(),
        alphabet=torch.from_numpy(arrays["alphabet"]).long(),
        alphabets=tuple(str(a) for a in arrays["alphabets"]),
        splits=tuple(str(s) for s in arrays["splits"]),
        fonts=tuple(str(f) for f in arrays["fonts"]),
        drawer_font=torch.from_numpy(arrays["drawer_font"]).long(),
    )
    C = len(glyphs.codepoints)
    shapes_ok = (
        glyphs.images.dtype == torch.uint8
        and tuple(glyphs.images.shape) == (C, n_drawers, image_size, image_size)
        and tuple(glyphs.drawer_font.shape) == (C, n_drawers)
        and glyphs.alphabet.shape == (C,)
        and len(glyphs.splits) == len(glyphs.alphabets)
        and (C == 0 or int(glyphs.alphabet.max()) < len(glyphs.alphabets))
        and set(glyphs.splits) <= set(SPLITS)
    )
    if not shapes_ok:
        raise ValueError("arrays of the wrong shape or type")
    return glyphs


def glyph_set(
    image_size: int = 28,
    n_drawers: int = 20,
    max_characters: int = 55,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    fonts: list[Path] | None = None,
) -> GlyphSet:
    """The glyph set for this configuration: read from the cache, else rendered and cached."""
    for name, value, low in (
        ("image_size", image_size, 4), ("n_drawers", n_drawers, 1),
        ("max_characters", max_characters, 1), ("seed", seed, 0),
    ):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    fonts = discover_fonts() if fonts is None else [Path(f) for f in fonts]
    key = _cache_key(image_size, n_drawers, max_characters, seed, fonts)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"glyphs-{image_size}px-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            return _load(path, key, image_size, n_drawers)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"glyph cache {path} is unreadable or stale ({error}); rebuilding it",
                RuntimeWarning,
                stacklevel=2,
            )
    glyphs = build_glyph_set(image_size, n_drawers, max_characters, seed, fonts)
    _save(path, key, glyphs)
    return glyphs
