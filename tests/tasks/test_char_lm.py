"""Character-level LM: the vendored text, the WikiText-103/enwik8 loaders, batches and windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from fastweights.tasks import TASKS, CharLM
from fastweights.tasks.char_vocab import CharVocab
from fastweights.tasks.text import (
    ENWIK8_SIZE,
    SPLITS,
    clear_cache,
    load_split,
    read_vendored,
    split_bounds,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _wikitext(tmp_path: Path, suffix: str = "tokens") -> Path:
    texts = {
        "train": " = Valkyria = \n\n The game began in 2010 . \n",
        "valid": " = Tale = \n\n Valkyria began in 2010 . \n",
        "test": " = Zürich = \n\n Ünique ! \n",  # Z, ü, Ü, ! are not in the training text
    }
    for split, text in texts.items():
        (tmp_path / f"wiki.{split}.{suffix}").write_text(text, encoding="utf-8")
    return tmp_path


def _enwik8(tmp_path: Path, n: int = 200) -> Path:
    file = tmp_path / "enwik8"
    file.write_bytes(bytes((7 * i) % 256 for i in range(n)))
    return file


def _stream_order(batches: list) -> tuple[torch.Tensor, torch.Tensor]:
    """The scored ``x`` and ``y`` of ``windows`` read row by row (stream by stream)."""
    xs, ys = [], []
    for row in range(batches[0].x.shape[0]):
        for x, y, mask in batches:
            xs.append(x[row][mask[row]])
            ys.append(y[row][mask[row]])
    return torch.cat(xs), torch.cat(ys)


# --- the vendored text ----------------------------------------------------------------------


def test_vendored_text_is_the_shipped_shakespeare() -> None:
    text = read_vendored()
    assert len(text) == 993_274 and text.isascii()
    assert text.startswith("ROMEO AND JULIET\n\nby William Shakespeare")
    assert "To be, or not to be" in text and "Gutenberg" not in text


def test_vocabulary_is_the_sorted_training_characters_plus_unk() -> None:
    task = CharLM()
    text = read_vendored()
    train = text[: split_bounds(len(text), "train")[1]]
    assert task.vocab.chars == tuple(sorted(set(train)))
    assert task.vocab_size == task.n_out == len(set(train)) + 1 == 74
    assert task.d_input == 0 and task.vocab.unk_id == 73
    assert CharLM(seq_len=5, split="test").vocab == task.vocab  # every split shares it


def test_splits_are_contiguous_disjoint_and_cover_the_text() -> None:
    task = CharLM()
    parts = [CharLM(split=s).data for s in SPLITS]
    assert [p.shape[0] for p in parts] == [893_946, 49_664, 49_664]
    assert torch.equal(torch.cat(parts).long(), task.encode(read_vendored()))
    assert task.test_split().split == "test" and task.valid_split().split == "valid"
    assert task.test_split().train_split() == task


def test_encode_decode_round_trip_and_unknown_characters() -> None:
    task = CharLM()
    s = "To be, or not to be: that is the question.\n"
    ids = task.encode(s)
    assert ids.dtype == torch.int64 and ids.shape == (len(s),)
    assert task.decode(ids) == s and task.decode(ids.tolist()) == s
    assert task.encode("é€").tolist() == [task.vocab.unk_id] * 2
    assert task.decode(task.encode("aé")) == "a\ufffd"
    with pytest.raises(ValueError, match=r"\[0, 74\)"):
        task.decode([74])
    with pytest.raises(TypeError, match="integer"):
        task.decode(torch.zeros(2))


def test_sample_is_a_window_of_the_split_shifted_by_one() -> None:
    task = CharLM(seq_len=64, split="valid")
    x, y, mask = task.sample(8, _gen())
    assert x.shape == y.shape == mask.shape == (8, 64)
    assert x.dtype == y.dtype == torch.int64 and bool(mask.all())
    assert torch.equal(x[:, 1:], y[:, :-1])
    text = task.decode(task.data)
    for row in range(8):
        assert task.decode(torch.cat([x[row], y[row, -1:]])) in text


def test_same_seed_same_batch() -> None:
    a = CharLM(seq_len=32).sample(4, _gen(3))
    b = CharLM(seq_len=32).sample(4, _gen(3))
    c = CharLM(seq_len=32).sample(4, _gen(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a.x, c.x)


def test_windows_score_every_prediction_once_in_stream_order() -> None:
    task = CharLM(seq_len=100, split="test")
    data = task.data.long()
    batches = list(task.windows(7))
    assert all(b.x.shape == (7, 100) for b in batches)
    assert len(batches) == math.ceil(math.ceil((data.shape[0] - 1) / 7) / 100)
    x, y = _stream_order(batches)
    assert torch.equal(x, data[:-1]) and torch.equal(y, data[1:])
    last = batches[-1]
    assert not bool(last.mask.all()) and int(last.x[~last.mask].abs().sum()) == 0


def test_a_bigram_model_from_train_beats_uniform_on_test() -> None:
    """The splits are one text: train's bigram statistics predict test well (about 2.4 nats,
    against ln 74 = 4.30 for a uniform guess)."""
    train, test = CharLM(), CharLM(seq_len=256, split="test")
    V, d = train.vocab_size, train.data.long()
    counts = torch.ones(V, V).index_put_((d[:-1], d[1:]), torch.ones(d.shape[0] - 1), True)
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    nll, n = 0.0, 0
    for x, y, mask in test.windows(16):
        nll -= float(log_p[x[mask], y[mask]].sum())
        n += int(mask.sum())
    assert n == test.n_symbols - 1
    assert nll / n < 2.6 < math.log(V)


def test_registered_and_json_friendly(tmp_path: Path) -> None:
    assert TASKS["char_lm"] is CharLM and CharLM.char_level  # the loop reports bits per char
    _enwik8(tmp_path)
    task = CharLM("enwik8", tmp_path, seq_len=4, exact_size=False)  # type: ignore[arg-type]
    assert task.path == str(tmp_path)  # a Path becomes a str
    fields = json.loads(json.dumps(task.__dict__))
    assert CharLM(**fields) == task


# --- loaders on small files -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["tokens", "raw"])
def test_wikitext_characters_from_the_training_file(tmp_path: Path, suffix: str) -> None:
    corpus = "wikitext103" if suffix == "tokens" else "wikitext103-raw"
    root = _wikitext(tmp_path, suffix)
    task = CharLM(corpus, str(root), seq_len=8)
    train = (root / f"wiki.train.{suffix}").read_text(encoding="utf-8")
    assert task.vocab.chars == tuple(sorted(set(train)))
    assert task.decode(task.data) == train
    test = task.test_split()
    expected = "".join(c if c in train else "\ufffd" for c in " = Zürich = \n\n Ünique ! \n")
    assert test.decode(test.data) == expected and expected.count("\ufffd") == 7  # Z ü c Ü q u !
    valid = task.valid_split()
    assert valid.decode(valid.data) == " = Tale = \n\n Valkyria began in 2010 . \n"
    x, y, _ = task.sample(3, _gen())
    assert x.shape == (3, 8) and torch.equal(x[:, 1:], y[:, :-1])


def test_wikitext_missing_empty_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"wiki\.train\.tokens"):
        CharLM("wikitext103", str(tmp_path / "nowhere"))
    root = _wikitext(tmp_path)
    (root / "wiki.valid.tokens").unlink()
    CharLM("wikitext103", str(root))  # the train split needs no valid file
    with pytest.raises(FileNotFoundError, match=r"wiki\.valid\.tokens"):
        CharLM("wikitext103", str(root), split="valid")
    with pytest.raises(FileNotFoundError, match=r"wiki\.train\.raw"):
        CharLM("wikitext103-raw", str(root))
    (root / "wiki.valid.tokens").write_text("")
    with pytest.raises(ValueError, match="empty"):
        CharLM("wikitext103", str(root), split="valid").sample(1, _gen())
    (root / "wiki.test.tokens").write_bytes(b"ok \xff\xfe bad")
    with pytest.raises(ValueError, match="not UTF-8"):
        CharLM("wikitext103", str(root), split="test").sample(1, _gen())


def test_enwik8_bytes_split_90_5_5(tmp_path: Path) -> None:
    file = _enwik8(tmp_path)
    expected = torch.tensor([(7 * i) % 256 for i in range(200)])
    parts = [CharLM("enwik8", str(file), seq_len=4, split=s, exact_size=False) for s in SPLITS]
    assert [p.n_symbols for p in parts] == [180, 10, 10]
    assert torch.equal(torch.cat([p.data.long() for p in parts]), expected)
    task = CharLM("enwik8", str(tmp_path), seq_len=4, exact_size=False)  # its directory works too
    assert task.vocab_size == task.n_out == 256 and task.vocab.unk_id is None
    assert task.encode("aé").tolist() == [97, 0xC3, 0xA9]
    assert task.decode(task.encode("aé")) == "aé" and task.decode([0xFF]) == "\ufffd"
    x, y, _ = task.sample(5, _gen())
    assert x.shape == (5, 4) and int(x.max()) < 256 and torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="needs at least 11"):
        CharLM("enwik8", str(file), seq_len=10, split="valid", exact_size=False).sample(1, _gen())


def test_enwik8_standard_size_and_errors(tmp_path: Path) -> None:
    assert [split_bounds(ENWIK8_SIZE, s) for s in SPLITS] == [
        (0, 90_000_000),
        (90_000_000, 95_000_000),
        (95_000_000, 100_000_000),
    ]
    file = _enwik8(tmp_path)
    with pytest.raises(ValueError, match="exactly 100000000"):
        CharLM("enwik8", str(file)).sample(1, _gen())
    with pytest.raises(FileNotFoundError, match="enwik8"):
        CharLM("enwik8", str(tmp_path / "elsewhere"))
    file.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        CharLM("enwik8", str(file), exact_size=False).sample(1, _gen())


def test_enwik8_of_the_standard_size_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "enwik8"
    with file.open("wb") as sink:  # a sparse file of exactly 10^8 bytes: cheap to make
        sink.truncate(ENWIK8_SIZE)
    test = CharLM("enwik8", str(file), split="test")
    assert test.n_symbols == 5_000_000 and test.vocab_size == 256
    clear_cache()  # release the 100 MB


def test_bad_fields_raise() -> None:
    for fields, match in [
        ({"corpus": "ptb"}, "corpus must be one of"),
        ({"split": "dev"}, "split must be one of"),
        ({"seq_len": 0}, "seq_len"),
        ({"path": "somewhere"}, "takes no path"),
        ({"corpus": "enwik8"}, "takes a path"),
        ({"exact_size": False}, "enwik8 only"),
    ]:
        with pytest.raises(ValueError, match=match):
            CharLM(**fields)
    with pytest.raises(TypeError, match="exact_size"):
        CharLM(exact_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        next(CharLM().windows(0))
    with pytest.raises(ValueError, match="lie in"):
        CharVocab.byte_level().decode([256])


def test_loading_is_cached_per_configuration() -> None:
    a = load_split("vendored", None, "valid")
    assert load_split("vendored", None, "valid") is a
    clear_cache()
    b = load_split("vendored", None, "valid")
    assert b is not a and torch.equal(a, b)
