"""The glyph set's fonts: which font files are the "drawers", and rasterising one glyph of one font.

Fonts come from two places, in this order:

- the fonts that matplotlib ships (``mpl-data/fonts/ttf``): DejaVu Sans, DejaVu Serif and DejaVu
  Sans Mono (4 styles each) and STIX General (4 styles) — ``MATPLOTLIB_FONTS``. The others in that
  folder are left out: the Computer Modern ``cm*`` fonts use TeX encodings, ``STIXNonUni`` maps
  private-use code points, the ``STIXSiz*`` and ``*Display`` fonts hold a few big operators, and
  ``LastResortHE`` draws a placeholder box for every code point;
- Debian's ``fonts-noto-core`` (``NOTO_DIR``, ``/usr/share/fonts/truetype/noto``) when it is
  installed: every ``Noto*-Regular``, ``-Bold``, ``-Italic`` and ``-BoldItalic`` ``.ttf`` there
  (Noto Sans/Serif and the per-script families: Devanagari, Ethiopic, Cherokee, Runic, ...).

Glyphs are rasterised by matplotlib's FreeType wrapper ``matplotlib.ft2font.FT2Font`` (no PIL),
unhinted and anti-aliased, then cropped to their ink and centred on a square canvas. matplotlib
is the optional ``plots`` extra and is imported only here, when a glyph set is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
MATPLOTLIB_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
)
NOTO_STYLES = ("-Regular.ttf", "-Bold.ttf", "-Italic.ttf", "-BoldItalic.ttf")


def _ft2font() -> Any:
    try:
        from matplotlib import ft2font
    except ImportError:
        raise ImportError(
            "the glyph few-shot set renders fonts with matplotlib: pip install fastweights[plots]"
        ) from None
    return ft2font


def matplotlib_font_dir() -> Path:
    """The folder of the TrueType fonts that matplotlib ships."""
    import matplotlib  # the plots extra; _ft2font() has checked it is there

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def discover_fonts(noto_dir: str | os.PathLike | None = NOTO_DIR) -> list[Path]:
    """The drawer fonts in their fixed order: matplotlib's (``MATPLOTLIB_FONTS``), then the Noto
    fonts in ``noto_dir`` (sorted by name; none when the folder is missing or ``None``)."""
    _ft2font()
    folder = matplotlib_font_dir()
    fonts = [folder / name for name in MATPLOTLIB_FONTS if (folder / name).is_file()]
    if not fonts:
        raise FileNotFoundError(f"none of matplotlib's DejaVu/STIX fonts found in {folder}")
    if noto_dir is not None and Path(noto_dir).is_dir():
        noto = sorted(Path(noto_dir).glob("Noto*.ttf"))
        fonts += [path for path in noto if path.name.endswith(NOTO_STYLES)]
    return fonts


class Rasteriser:
    """Renders code points of a list of fonts as ``[canvas, canvas]`` float32 ink images in
    ``[0, 1]``: the glyph at ``em`` pixels per em, cropped to its ink, shrunk (area average) if
    its ink is larger than ``fit`` of the canvas, and centred (the ink box's centre on the
    canvas centre)."""

    def __init__(self, fonts: Sequence[str | os.PathLike], canvas: int) -> None:
        ft2font = _ft2font()
        self.canvas = canvas
        self.em = round(0.8 * canvas)
        self.fit = round(0.9 * canvas)
        self._faces = []
        for path in fonts:
            try:
                face = ft2font.FT2Font(os.fspath(path))
            except (OSError, RuntimeError, ValueError) as error:
                raise ValueError(f"cannot read font {path}: {error}") from None
            face.set_size(self.em, 72)  # 72 dpi: the size in points is the size in pixels
            self._faces.append(face)
        flags = getattr(ft2font, "LoadFlags", None)
        self._flags = flags.NO_HINTING if flags is not None else ft2font.LOAD_NO_HINTING

    def charmaps(self) -> list[frozenset[int]]:
        """The code points each font maps to a glyph."""
        return [frozenset(face.get_charmap()) for face in self._faces]

    def render(self, font: int, codepoint: int) -> np.ndarray:
        """Font ``font`` (an index into the list) drawing ``codepoint``; all zeros when the glyph
        has no ink (a space-like glyph)."""
        face = self._faces[font]
        face.set_text(chr(codepoint), 0.0, flags=self._flags)
        face.draw_glyphs_to_bitmap(antialiased=True)
        ink = np.asarray(face.get_image(), dtype=np.float32) / 255.0  # [h, w]
        canvas = np.zeros((self.canvas, self.canvas), dtype=np.float32)
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        if rows.size == 0:
            return canvas
        ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        if max(ink.shape) > self.fit:
            ink = _shrink(ink, self.fit / max(ink.shape))
        h, w = ink.shape
        top, left = (self.canvas - h) // 2, (self.canvas - w) // 2
        canvas[top : top + h, left : left + w] = ink
        return canvas


def _shrink(ink: np.ndarray, factor: float) -> np.ndarray:
    """Area-average downscaling by ``factor < 1`` (each side at least one pixel)."""
    import torch
    import torch.nn.functional as F

    h, w = ink.shape
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    out = F.interpolate(torch.from_numpy(ink)[None, None], size=size, mode="area")
    return out[0, 0].numpy()
