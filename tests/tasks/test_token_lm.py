"""``TokenLM``: byte-level BPE and word-level language modelling on local texts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("tokenizers", reason="the tokenizers package (the lm extra) is not installed")

from fastweights.tasks import TASKS, PackedBatch
from fastweights.tasks.token_lm import TokenLM, read_texts, split_documents
from fastweights.tasks.tokenizer import fingerprint

TEXT = "".join(f"line {i}: the fast weights of line {i % 7} are written and read.\n"
               for i in range(400))  # fmt: skip


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    file = tmp_path / "corpus.txt"
    file.write_text(TEXT, encoding="utf-8")
    return file


def test_bpe_round_trips_and_windows_predict_the_next_token(text_file: Path) -> None:
    task = TASKS["token_lm"](path=str(text_file), max_vocab=300, seq_len=8)
    assert 257 <= task.vocab_size <= 300 and task.n_out == task.vocab_size
    sample = "the fast weights of line 3 are read, ünïcode too"
    assert task.decode(task.encode(sample)) == sample  # byte level: nothing is unknown
    batch = task.sample(4, torch.Generator().manual_seed(0))
    assert batch.x.shape == batch.y.shape == (4, 8) and bool(batch.mask.all())
    assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])  # y is x shifted by one token
    again = task.sample(4, torch.Generator().manual_seed(0))
    assert torch.equal(batch.x, again.x)


def test_ordered_windows_cover_every_prediction_once(text_file: Path) -> None:
    task = TokenLM(path=str(text_file), max_vocab=300, seq_len=5, split="valid")
    n = task.data.shape[0]
    assert sum(int(b.mask.sum()) for b in task.windows(3)) == n - 1


def test_the_word_level_has_eos_per_line_and_unk(tmp_path: Path) -> None:
    folder = tmp_path / "wikitext"
    folder.mkdir()
    for split, words in (("train", "a b c"), ("valid", "a b z"), ("test", "c c a")):
        (folder / f"wiki.{split}.tokens").write_text(f" {words} \n = x = \n" * 20)
    task = TokenLM(path=str(folder), tokenization="word", max_vocab=0, seq_len=4, split="valid")
    # <unk>, <eos>, and a b c = x from the training split
    assert task.vocab_size == 7
    assert task.decode(task.data[:5]) == "a b <unk> <eos> ="
    assert task.test_split().data.shape[0] == 20 * (4 + 4)


def test_a_saved_tokenizer_is_reused_and_a_different_one_refused(
    text_file: Path, tmp_path: Path
) -> None:
    task = TokenLM(path=str(text_file), max_vocab=300, seq_len=8)
    run = tmp_path / "run"
    run.mkdir()
    saved = task.save_artifacts(run)
    assert saved.tokenizer == str(run / "tokenizer.json")
    assert torch.equal(saved.data, task.data)
    other = TokenLM(path=str(text_file), max_vocab=400).save_artifacts(tmp_path)
    swapped = TokenLM(path=str(text_file), max_vocab=300, tokenizer=other.tokenizer,
                      tokenizer_sha256=saved.tokenizer_sha256)  # fmt: skip
    with pytest.raises(ValueError, match="does not match the run's"):
        swapped.vocab_size  # noqa: B018
    assert fingerprint(saved._loaded()[0]) == saved.tokenizer_sha256


def test_text_sources(tmp_path: Path, text_file: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "b.txt").write_text("second\n" * 50)
    (folder / "a.txt").write_text("first\n" * 50)
    texts = read_texts(str(folder))
    assert texts["train"].startswith("first") and texts["test"].endswith("second\n")
    assert sum(len(t) for t in read_texts(str(text_file)).values()) == len(TEXT)
    assert len(read_texts(None)["train"]) > 800_000  # the vendored text


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"", ValueError, "is empty"),
        (b"\xff\xfe not utf-8 \xc3", ValueError, "not UTF-8"),
        (b"ab", ValueError, "too short to cut"),
    ],
)
def test_bad_texts_are_clear_errors(tmp_path: Path, content: bytes, error, match) -> None:
    file = tmp_path / "bad.txt"
    file.write_bytes(content)
    with pytest.raises(error, match=match):
        TokenLM(path=str(file)).vocab_size  # noqa: B018


def test_bad_fields_are_clear_errors(tmp_path: Path, text_file: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no text file or folder"):
        TokenLM(path=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="tokenization must be one of"):
        TokenLM(tokenization="char")
    with pytest.raises(ValueError, match="max_vocab must be an int >= 257"):
        TokenLM(max_vocab=100)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no"):
        TokenLM(path=str(tmp_path / "empty")).vocab_size  # noqa: B018
    short = TokenLM(path=str(text_file), max_vocab=300, seq_len=10_000, split="test")
    with pytest.raises(ValueError, match="needs at least"):
        short.sample(1, torch.Generator())


def test_documents_split_where_the_text_says_and_join_back(tmp_path: Path) -> None:
    text = "a\nb\n\n\n\nc\n\n\nd\n\n\n\n\ne\n"  # 2 breaks of 3+ empty lines; 2 is none
    documents = split_documents(text)
    assert documents == ["a\nb\n\n\n\n", "c\n\n\nd\n\n\n\n\n", "e\n"] and "".join(documents) == text
    wiki = " = A = \n one \n = = Sub = = \n two \n = B = \n three \n"
    assert split_documents(wiki, wikitext=True) == [" = A = \n one \n = = Sub = = \n two \n",
                                                    " = B = \n three \n"]  # fmt: skip
    assert len(split_documents(read_texts(None)["train"])) > 100  # the vendored text's scenes


def test_packed_windows_mark_documents_and_never_target_across_them(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(30):  # each file is a document
        (folder / f"{i:02}.txt").write_text(f"document {i} says: " + "word " * (i % 5 + 3))
    task = TokenLM(path=str(folder), max_vocab=300, seq_len=24, pack=True)
    assert int(task.starts.sum()) > 20 and bool(task.starts[0])
    batch = task.sample(8, torch.Generator().manual_seed(0))
    assert isinstance(batch, PackedBatch) and batch.starts.any()
    plain = TokenLM(path=str(folder), max_vocab=300, seq_len=24).sample(
        8, torch.Generator().manual_seed(0)
    )
    assert torch.equal(batch.x, plain.x)  # the same windows, now with their documents marked
    # y begins a document exactly where the next position's x starts one: those are not scored
    assert torch.equal(~batch.mask[:, :-1], batch.starts[:, 1:])
    assert bool((batch.y[~batch.mask] == 0).all())
    with pytest.raises(ValueError, match="packed TokenLM starts every document afresh"):
        task.streams(4)
    with pytest.raises(ValueError, match="pack must be true or false"):
        TokenLM(pack="yes")
