"""The font-rendered glyph set: fonts, distortions, look-alikes, the alphabet split, the cache
(write, read, corrupt, stale) and the glyph FewShot task. Small sets only (12 px, few
characters); ``BLOCKS`` is narrowed where a test needs just a few alphabets."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("matplotlib", reason="needs matplotlib: pip install fastweights[plots]")

from fastweights.tasks.fewshot import FewShot, glyph_set, glyphs, oracle
from fastweights.tasks.fewshot import distort as distort_module
from fastweights.tasks.fewshot import fonts as fonts_module
from fastweights.tasks.fewshot.blocks import BLOCKS, Block, candidates

SMALL = {"image_size": 12, "n_drawers": 3, "max_characters": 4}
FEW_BLOCKS = (
    Block("Latin capitals", 0x41, 0x5A, "background", "letters"),
    Block("Greek capitals", 0x391, 0x3A9, "evaluation", "letters"),
    Block("Cyrillic capitals", 0x410, 0x42F, "evaluation", "letters"),
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("glyphs")


@pytest.fixture(scope="module")
def small(cache: Path) -> glyphs.GlyphSet:
    return glyph_set(**SMALL, cache_dir=cache)


@pytest.fixture
def few_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glyphs, "BLOCKS", FEW_BLOCKS)


def test_the_set_and_its_alphabets(small: glyphs.GlyphSet) -> None:
    C = len(small.codepoints)
    assert small.images.shape == (C, 3, 12, 12) and small.images.dtype == torch.uint8
    assert C >= 80 and len(small.alphabets) >= 20  # about 30 blocks are drawn by matplotlib's fonts
    by_name = {b.name: b for b in BLOCKS}
    for a, name in enumerate(small.alphabets):
        assert small.splits[a] == by_name[name].split
        mine = small.codepoints[small.alphabet == a].tolist()
        assert len(mine) == 4  # max_characters, and no block below min(10, 4) is kept
        assert set(mine) <= set(candidates(by_name[name]))
    assert {"Latin", "Armenian", "Braille Patterns"} <= set(small.alphabets)
    # every example has ink, and drawers differ
    assert bool((small.images.flatten(2).amax(-1) > 0).all())
    assert not torch.equal(small.images[:, 0], small.images[:, 1])
    assert small.drawer_font.shape == (C, 3) and small.fonts[0] == "DejaVuSans.ttf"


def test_splits_share_no_alphabet_and_no_character(small: glyphs.GlyphSet) -> None:
    train, test = small.split("background"), small.split("evaluation")
    assert train.n_classes + test.n_classes == len(small.codepoints)
    assert not set(train.names) & set(test.names)
    train_alphabets = {name.split("/")[0] for name in train.names}
    test_alphabets = {name.split("/")[0] for name in test.names}
    assert not train_alphabets & test_alphabets and train_alphabets and test_alphabets
    with pytest.raises(ValueError, match="split"):
        small.split("train")


def test_look_alikes_are_kept_once(few_blocks: None) -> None:
    rasteriser = fonts_module.Rasteriser(fonts_module.discover_fonts(), 56)
    chosen = glyphs._choose_characters(rasteriser, 28, 40)
    kept = {c for _, c, _ in chosen}
    assert {0x41, 0x393, 0x414} <= kept  # Latin A, Greek Γ, Cyrillic Д
    assert not {0x391, 0x410, 0x392, 0x412, 0x41E} & kept  # Α, А, Β, В, О: copies of Latin
    refs = np.stack(
        [
            glyphs._blurred_unit(glyphs._clean(rasteriser.render(fonts[0], c), 28))
            for _, c, fonts in chosen
        ]
    )
    similarity = refs @ refs.T - 2 * np.eye(len(refs))
    assert similarity.max() <= glyphs.DUPLICATE


def test_rasteriser_centres_the_ink() -> None:
    rasteriser = fonts_module.Rasteriser(fonts_module.discover_fonts()[:1], 48)
    glyph = rasteriser.render(0, ord("H"))
    assert glyph.shape == (48, 48) and glyph.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(glyph.any(1)), np.flatnonzero(glyph.any(0))
    assert abs((rows[0] + rows[-1]) / 2 - 23.5) <= 1 and abs((cols[0] + cols[-1]) / 2 - 23.5) <= 1
    assert not rasteriser.render(0, ord(" ")).any()


def test_noto_fonts_are_discovered(tmp_path: Path) -> None:
    dejavu = fonts_module.matplotlib_font_dir() / "DejaVuSerif.ttf"
    for name in ("NotoSansFake-Regular.ttf", "NotoSansFake-Medium.ttf", "Other-Regular.ttf"):
        shutil.copy(dejavu, tmp_path / name)
    found = fonts_module.discover_fonts(tmp_path)
    assert [f.name for f in found[:16]] == list(fonts_module.MATPLOTLIB_FONTS)
    assert [f.name for f in found[16:]] == ["NotoSansFake-Regular.ttf"]  # Medium: not a style
    assert len(fonts_module.discover_fonts(tmp_path / "missing")) == 16
    assert len(fonts_module.discover_fonts(None)) == 16


def test_extra_fonts_become_drawers(few_blocks: None, tmp_path: Path) -> None:
    extra = tmp_path / "NotoSansFake-Regular.ttf"
    shutil.copy(fonts_module.matplotlib_font_dir() / "DejaVuSerif-Bold.ttf", extra)
    fonts = [*fonts_module.discover_fonts(None)[:2], extra]
    built = glyph_set(**{**SMALL, "n_drawers": 6}, cache_dir=tmp_path / "cache", fonts=fonts)
    assert built.fonts == ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", extra.name)
    assert set(built.drawer_font.flatten().tolist()) == {0, 1, 2}  # drawer j: font j mod 3


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"fastweights\[plots\]"):
        fonts_module.discover_fonts()


def test_distortion_known_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    masters = torch.rand(5, 24, 24, generator=torch.Generator().manual_seed(0))
    none = {"rotation": 0.0, "shear": 0.0, "scale": (1.0, 1.0), "aspect": 0.0,
            "translation": 0.0, "p_thin": 0.0, "p_thick": 0.0}  # fmt: skip
    monkeypatch.setattr(distort_module, "DISTORTION", none)
    out = distort_module.distort(masters, 12, torch.Generator())
    assert torch.allclose(out, F.avg_pool2d(masters[:, None], 2)[:, 0], atol=1e-5)
    monkeypatch.setattr(distort_module, "DISTORTION", {**none, "p_thick": 1.0})
    out = distort_module.distort(masters, 24, torch.Generator())
    assert torch.allclose(out, F.max_pool2d(masters[:, None], 3, 1, 1)[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="masters"):
        distort_module.distort(masters[0], 12, torch.Generator())


def test_distortions_are_seeded() -> None:
    masters = torch.rand(4, 24, 24)
    a = distort_module.distort(masters, 12, torch.Generator().manual_seed(1))
    b = distort_module.distort(masters, 12, torch.Generator().manual_seed(1))
    c = distort_module.distort(masters, 12, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_cache_is_written_then_read(small: glyphs.GlyphSet, cache: Path, monkeypatch) -> None:
    assert len(list(cache.glob("glyphs-12px-*.npz"))) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("the cached set should have been read")

    monkeypatch.setattr(glyphs, "build_glyph_set", no_build)
    again = glyph_set(**SMALL, cache_dir=cache)
    assert torch.equal(again.images, small.images) and again.alphabets == small.alphabets
    assert torch.equal(again.drawer_font, small.drawer_font)
    assert not list(cache.glob("*.tmp"))  # written atomically


def test_corrupt_or_stale_cache_is_rebuilt(few_blocks: None, tmp_path: Path) -> None:
    first = glyph_set(**SMALL, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        rebuilt = glyph_set(**SMALL, cache_dir=tmp_path)
    assert torch.equal(rebuilt.images, first.images)  # rendering is deterministic
    with np.load(path) as data:
        arrays = dict(data)
    arrays["key"] = np.array("another configuration")
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="another configuration"):
        glyph_set(**SMALL, cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is good again
        glyph_set(**SMALL, cache_dir=tmp_path)


def test_seed_changes_only_the_distortions(few_blocks: None, tmp_path: Path) -> None:
    a = glyph_set(**SMALL, cache_dir=tmp_path)
    b = glyph_set(**SMALL, seed=1, cache_dir=tmp_path)
    assert torch.equal(a.codepoints, b.codepoints) and not torch.equal(a.images, b.images)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_cache_folder_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FASTWEIGHTS_CACHE", str(tmp_path / "fw"))
    assert glyphs.default_cache_dir() == tmp_path / "fw" / "glyphs"
    monkeypatch.delenv("FASTWEIGHTS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert glyphs.default_cache_dir() == tmp_path / ".cache" / "fastweights" / "glyphs"


def test_bad_glyph_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_size"):
        glyph_set(image_size=2, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="n_drawers"):
        glyph_set(n_drawers=0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot read font"):
        fonts_module.Rasteriser([tmp_path / "missing.ttf"], 48)


def test_glyph_task(small: glyphs.GlyphSet, cache: Path, tmp_path: Path) -> None:
    lazy = FewShot("glyphs", cache_dir=str(tmp_path / "unused"), **SMALL)
    assert lazy.d_input == 144 + 6 and not (tmp_path / "unused").exists()  # nothing rendered yet
    task = FewShot("glyphs", k_shot=2, n_queries=1, cache_dir=str(cache), **SMALL)
    episode = task.episode(16, torch.Generator().manual_seed(0))
    assert episode.x.shape == (16, 11, 150)
    assert torch.equal(oracle(task, episode)[episode.mask], episode.y[episode.mask])
    train, test = task.images(), task.test_split().images()
    assert train.n_classes + test.n_classes == len(small.codepoints)
    assert not set(train.names) & set(test.names)
    assert int(episode.classes.max()) < train.n_classes
