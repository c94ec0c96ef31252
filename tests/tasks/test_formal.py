"""FormalLanguage: an independent oracle (membership and viable-prefix checks written from each
language's definition, on strings) reproduces every target; generated strings are members."""

from __future__ import annotations

import re
from collections import Counter
from itertools import accumulate

import pytest
import torch

from fastweights.tasks.base import Task
from fastweights.tasks.formal import LANGUAGES, FormalLanguage


def _never_negative(w: str, open_: str, close: str) -> bool:
    steps = (1 if ch == open_ else -1 if ch == close else 0 for ch in w)
    return min(accumulate(steps, initial=0)) >= 0


def _balanced(w: str, open_: str, close: str) -> bool:
    return _never_negative(w, open_, close) and w.count(open_) == w.count(close)


def _blocks(w: str) -> tuple[int, int, int] | None:
    """``(i, j, k)`` when ``w = aⁱ bʲ cᵏ``, else None."""
    m = re.fullmatch(r"(a*)(b*)(c*)", w)
    return None if m is None else tuple(len(g) for g in m.groups())


def accepts(language: str, w: str) -> bool:
    """Membership, from the definitions (non-empty strings)."""
    if language == "parity":
        return re.fullmatch(r"[01]+", w) is not None and w.count("1") % 2 == 0
    if language == "aa*":
        return re.fullmatch(r"(aa)+", w) is not None
    if language == "abab*":
        return re.fullmatch(r"(abab)+", w) is not None
    if language in ("anbn", "anbncn"):
        ijk = _blocks(w)
        if ijk is None or ijk[0] == 0:
            return False
        i, j, k = ijk
        return j == i and k == (i if language == "anbncn" else 0)
    if language == "dyck1":
        return set(w) <= set("()") and _balanced(w, "(", ")")
    if language == "shuffle2":
        return set(w) <= set("()[]") and _balanced(w, "(", ")") and _balanced(w, "[", "]")
    if language == "reset_dyck1":
        *segments, last = w.split("r")
        return (
            set(w) <= set("()r")
            and all(_never_negative(s, "(", ")") for s in segments)
            and _balanced(last, "(", ")")
        )
    raise AssertionError(language)


def viable(language: str, w: str) -> bool:
    """Whether ``w`` is a prefix of some string of the language."""
    if language == "parity":
        return re.fullmatch(r"[01]*", w) is not None
    if language == "aa*":
        return re.fullmatch(r"a*", w) is not None
    if language == "abab*":
        return re.fullmatch(r"(ab)*a?", w) is not None
    if language in ("anbn", "anbncn"):
        ijk = _blocks(w)
        if ijk is None:
            return False
        i, j, k = ijk
        if language == "anbn":
            return k == 0 and j <= i
        return (k == 0 and j <= i) or (j == i and k <= i)
    if language == "dyck1":
        return set(w) <= set("()") and _never_negative(w, "(", ")")
    if language == "shuffle2":
        ok = _never_negative(w, "(", ")") and _never_negative(w, "[", "]")
        return set(w) <= set("()[]") and ok
    if language == "reset_dyck1":
        return set(w) <= set("()r") and all(_never_negative(s, "(", ")") for s in w.split("r"))
    raise AssertionError(language)


def oracle_targets(task: FormalLanguage, w: str) -> list[list[float]]:
    """After each prefix: which symbols may follow, then EOS (the prefix is a member)."""
    rows = []
    for t in range(1, len(w) + 1):
        p = w[:t]
        row = [float(viable(task.language, p + s)) for s in task.symbols]
        rows.append([*row, float(accepts(task.language, p))])
    return rows


def _splits(language: str) -> list[FormalLanguage]:
    train = FormalLanguage(language)
    return [train, train.test_split()]


@pytest.mark.parametrize("language", LANGUAGES)
def test_oracle_reproduces_every_target_and_strings_are_members(language) -> None:
    for task in _splits(language):
        x, y, mask = task.sample(12, torch.Generator().manual_seed(3))
        for b, w in enumerate(task.decode(x)):
            n = len(w)
            assert task.min_length <= n <= task.max_length
            assert accepts(language, w), w
            assert mask[b].tolist() == [True] * n + [False] * (x.shape[1] - n)
            assert (x[b, n:] == task.pad_id).all() and (x[b, :n] < task.pad_id).all()
            assert y[b, :n].tolist() == oracle_targets(task, w), w
            assert not y[b, n:].any()


def test_oracle_rejects_non_members() -> None:
    """The oracle itself can tell members from non-members (so the test above can fail)."""
    bad = {
        "parity": ["1", "0111", "2"],
        "aa*": ["a", "aaa", "ab"],
        "abab*": ["ab", "abba", "ababab"],
        "anbn": ["aab", "abb", "ba", "abab"],
        "anbncn": ["aabbc", "abcc", "acb", "ab"],
        "shuffle2": [")(", "([)", "(]", "(("],
        "dyck1": [")(", "(()", "())("],
        "reset_dyck1": [")r", "r(", "(r)", "()r)("],
    }
    good = {
        "parity": ["11", "0101"],
        "aa*": ["aa"],
        "abab*": ["abababab"],
        "anbn": ["aabb"],
        "anbncn": ["aabbcc"],
        "shuffle2": ["([)]", "[(])"],
        "dyck1": ["(())()"],
        "reset_dyck1": ["((r()", "r", "(rr()", "()"],
    }
    assert set(bad) == set(good) == set(LANGUAGES)
    for language in LANGUAGES:
        assert not any(accepts(language, w) for w in bad[language]), language
        assert all(accepts(language, w) for w in good[language]), language
    assert not viable("anbn", "aba") and viable("anbn", "aab")
    assert not viable("dyck1", "())") and not viable("reset_dyck1", "(r))")


def test_same_seed_same_batch_and_other_seed_other_batch() -> None:
    for language in LANGUAGES:
        task = FormalLanguage(language)
        a = task.sample(8, torch.Generator().manual_seed(0))
        b = task.sample(8, torch.Generator().manual_seed(0))
        c = task.sample(8, torch.Generator().manual_seed(1))
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x), language


def test_layout_and_declared_sizes() -> None:
    for language in LANGUAGES:
        task = FormalLanguage(language, 1, 20)
        x, y, mask = task.sample(5, torch.Generator().manual_seed(0))
        k = len(task.symbols)
        assert isinstance(task, Task)
        assert (task.vocab_size, task.d_input, task.n_out, task.pad_id) == (k + 1, 0, k + 1, k)
        assert x.dtype == torch.int64 and y.dtype == torch.float32 and mask.dtype == torch.bool
        assert y.shape == (*x.shape, k + 1) and mask.shape == x.shape
        assert x.shape[1] == int(mask.sum(1).max())


def test_lengths_per_language_and_test_split_defaults() -> None:
    assert FormalLanguage("parity").lengths == tuple(range(1, 51))
    assert FormalLanguage("dyck1").lengths == tuple(range(2, 51, 2))
    assert FormalLanguage("abab*").lengths == tuple(range(4, 49, 4))
    assert FormalLanguage("anbncn").lengths == tuple(range(3, 49, 3))
    test = FormalLanguage("dyck1").test_split()
    assert (test.language, test.min_length, test.max_length) == ("dyck1", 51, 100)
    assert FormalLanguage("aa*", 1, 6).test_split(7, 9).lengths == (8,)
    task = FormalLanguage("anbn", 2, 8)
    seen = Counter(int(n) for n in task.sample(400, torch.Generator().manual_seed(0)).mask.sum(1))
    assert set(seen) == {2, 4, 6, 8} and min(seen.values()) > 60


def test_dyck1_words_are_uniform() -> None:
    """All 5 Dyck-1 words of length 6 appear about equally often."""
    task = FormalLanguage("dyck1", 6, 6)
    words = Counter(task.decode(task.sample(5000, torch.Generator().manual_seed(0)).x))
    assert len(words) == 5
    assert all(abs(c / 5000 - 0.2) < 0.03 for c in words.values()), words


def test_shuffle2_interleaves_and_reset_dyck1_has_one_reset() -> None:
    strings = FormalLanguage("shuffle2", 4, 20).decode(
        FormalLanguage("shuffle2", 4, 20).sample(300, torch.Generator().manual_seed(0)).x
    )
    # crossing brackets: not Dyck-2, only a shuffle of two Dyck-1 words
    assert any("([)" in w or "[(]" in w for w in strings)
    task = FormalLanguage("reset_dyck1", 1, 30)
    resets = [w.count("r") for w in task.decode(task.sample(200, torch.Generator()).x)]
    assert set(resets) == {1}


def test_bad_fields_raise() -> None:
    with pytest.raises(ValueError, match=r"dyck1.*reset_dyck1"):
        FormalLanguage("dyck2")
    with pytest.raises(ValueError, match="min_length"):
        FormalLanguage("dyck1", 0, 10)
    with pytest.raises(ValueError, match="max_length"):
        FormalLanguage("dyck1", 10, 5)
    with pytest.raises(ValueError, match="no strings"):
        FormalLanguage("abab*", 5, 7)
    with pytest.raises(ValueError, match="batch_size"):
        FormalLanguage().sample(0, torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        FormalLanguage().sample(2, None)
