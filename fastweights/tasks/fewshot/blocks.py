"""The glyph set's alphabets: Unicode blocks, each assigned to the background or evaluation split.

An *alphabet* is one Unicode block (a script such as Armenian or Ogham, or a symbol set such as
Braille Patterns); a *character* is one code point of it. As in Omniglot (Lake et al. 2015), the
alphabets are split into **background** alphabets (training) and **evaluation** alphabets (the
held-out test split); the split is fixed per block here (``BLOCKS``), so it does not move when
more fonts are installed. A block becomes an alphabet only when the fonts draw enough of it
(``fastweights.tasks.fewshot.glyphs``): with matplotlib's fonts alone about 30 blocks do; Noto
adds the scripts of South and South-East Asia, Ethiopic, Cherokee, Runic and more.

A code point is a candidate character when its general category is a letter (``Lu Ll Lt Lo``;
in a script's block) or a symbol (``Sm So``; in a symbol block) and it has no Unicode
decomposition, so precomposed accented letters (``é = e + ◌́``), compatibility forms and modifier
letters (``Lm``) are left out: they would be near-copies of their base letters. Punctuation,
digits, marks and the symbols inside script blocks (``©``, ``×`` in Latin-1) are never characters.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

LETTERS = frozenset({"Lu", "Ll", "Lt", "Lo"})
SYMBOLS = frozenset({"Sm", "So"})
SPLITS = ("background", "evaluation")


class Block(NamedTuple):
    name: str
    first: int
    last: int
    split: str  # "background" or "evaluation"
    kind: str  # "letters" (a script) or "symbols" (a symbol set)


_B, _E, _L, _S = "background", "evaluation", "letters", "symbols"
# Ranges from Unicode's Blocks.txt ("Latin" joins Basic Latin, Latin-1 Supplement and Latin
# Extended-A/B). Related blocks (Georgian and its supplement, Cyrillic and its supplement) share
# a split.
BLOCKS: tuple[Block, ...] = (
    Block("Latin", 0x0000, 0x024F, _B, _L),
    Block("IPA Extensions", 0x0250, 0x02AF, _B, _L),
    Block("Greek and Coptic", 0x0370, 0x03FF, _B, _L),
    Block("Cyrillic", 0x0400, 0x04FF, _B, _L),
    Block("Cyrillic Supplement", 0x0500, 0x052F, _B, _L),
    Block("Armenian", 0x0530, 0x058F, _E, _L),
    Block("Hebrew", 0x0590, 0x05FF, _B, _L),
    Block("Arabic", 0x0600, 0x06FF, _B, _L),
    Block("Syriac", 0x0700, 0x074F, _E, _L),
    Block("Thaana", 0x0780, 0x07BF, _B, _L),
    Block("NKo", 0x07C0, 0x07FF, _E, _L),
    Block("Samaritan", 0x0800, 0x083F, _B, _L),
    Block("Devanagari", 0x0900, 0x097F, _B, _L),
    Block("Bengali", 0x0980, 0x09FF, _E, _L),
    Block("Gurmukhi", 0x0A00, 0x0A7F, _B, _L),
    Block("Gujarati", 0x0A80, 0x0AFF, _E, _L),
    Block("Oriya", 0x0B00, 0x0B7F, _B, _L),
    Block("Tamil", 0x0B80, 0x0BFF, _E, _L),
    Block("Telugu", 0x0C00, 0x0C7F, _B, _L),
    Block("Kannada", 0x0C80, 0x0CFF, _E, _L),
    Block("Malayalam", 0x0D00, 0x0D7F, _B, _L),
    Block("Sinhala", 0x0D80, 0x0DFF, _E, _L),
    Block("Thai", 0x0E00, 0x0E7F, _B, _L),
    Block("Lao", 0x0E80, 0x0EFF, _B, _L),
    Block("Tibetan", 0x0F00, 0x0FFF, _E, _L),
    Block("Myanmar", 0x1000, 0x109F, _B, _L),
    Block("Georgian", 0x10A0, 0x10FF, _E, _L),
    Block("Ethiopic", 0x1200, 0x137F, _B, _L),
    Block("Cherokee", 0x13A0, 0x13FF, _E, _L),
    Block("Canadian Syllabics", 0x1400, 0x167F, _B, _L),
    Block("Ogham", 0x1680, 0x169F, _E, _L),
    Block("Runic", 0x16A0, 0x16FF, _B, _L),
    Block("Khmer", 0x1780, 0x17FF, _E, _L),
    Block("Mongolian", 0x1800, 0x18AF, _B, _L),
    Block("Tai Le", 0x1950, 0x197F, _E, _L),
    Block("Balinese", 0x1B00, 0x1B7F, _B, _L),
    Block("Ol Chiki", 0x1C50, 0x1C7F, _E, _L),
    Block("Arrows", 0x2190, 0x21FF, _B, _S),
    Block("Mathematical Operators", 0x2200, 0x22FF, _B, _S),
    Block("Miscellaneous Technical", 0x2300, 0x23FF, _E, _S),
    Block("Box Drawing", 0x2500, 0x257F, _B, _S),
    Block("Geometric Shapes", 0x25A0, 0x25FF, _E, _S),
    Block("Miscellaneous Symbols", 0x2600, 0x26FF, _B, _S),
    Block("Dingbats", 0x2700, 0x27BF, _E, _S),
    Block("Braille Patterns", 0x2800, 0x28FF, _B, _S),
    Block("Supplemental Arrows-B", 0x2900, 0x297F, _B, _S),
    Block("Miscellaneous Mathematical Symbols-B", 0x2980, 0x29FF, _E, _S),
    Block("Supplemental Mathematical Operators", 0x2A00, 0x2AFF, _B, _S),
    Block("Glagolitic", 0x2C00, 0x2C5F, _E, _L),
    Block("Coptic", 0x2C80, 0x2CFF, _B, _L),
    Block("Georgian Supplement", 0x2D00, 0x2D2F, _E, _L),
    Block("Tifinagh", 0x2D30, 0x2D7F, _E, _L),
    Block("Hiragana", 0x3040, 0x309F, _B, _L),
    Block("Katakana", 0x30A0, 0x30FF, _E, _L),
    Block("Yijing Hexagram Symbols", 0x4DC0, 0x4DFF, _B, _S),
    Block("Lisu", 0xA4D0, 0xA4FF, _E, _L),
    Block("Vai", 0xA500, 0xA63F, _B, _L),
    Block("Bamum", 0xA6A0, 0xA6FF, _E, _L),
    Block("Javanese", 0xA980, 0xA9DF, _B, _L),
    Block("Cham", 0xAA00, 0xAA5F, _E, _L),
    Block("Meetei Mayek", 0xABC0, 0xABFF, _B, _L),
    Block("Linear B Syllabary", 0x10000, 0x1007F, _E, _L),
    Block("Old Italic", 0x10300, 0x1032F, _B, _L),
    Block("Gothic", 0x10330, 0x1034F, _E, _L),
    Block("Deseret", 0x10400, 0x1044F, _B, _L),
    Block("Osmanya", 0x10480, 0x104AF, _E, _L),
    Block("Phoenician", 0x10900, 0x1091F, _B, _L),
    Block("Old Turkic", 0x10C00, 0x10C4F, _E, _L),
    Block("Adlam", 0x1E900, 0x1E95F, _B, _L),
    Block("Tai Xuan Jing Symbols", 0x1D300, 0x1D35F, _E, _S),
    Block("Domino Tiles", 0x1F030, 0x1F09F, _B, _S),
    Block("Playing Cards", 0x1F0A0, 0x1F0FF, _E, _S),
)


def is_candidate(codepoint: int, kind: str) -> bool:
    """A letter (``kind="letters"``) or symbol (``"symbols"``) without a decomposition."""
    char = chr(codepoint)
    categories = LETTERS if kind == _L else SYMBOLS
    return unicodedata.category(char) in categories and not unicodedata.decomposition(char)


def candidates(block: Block) -> list[int]:
    """The block's candidate characters in code-point order."""
    return [c for c in range(block.first, block.last + 1) if is_candidate(c, block.kind)]
