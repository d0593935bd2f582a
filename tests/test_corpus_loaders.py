import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mlm_lab.data.corpus_loaders import EOT, Cervantes, Mixture, TextCorpus, TinyStories, normalise_paragraphs, paragraph_break, tail_count
from mlm_lab.data.gutenberg import strip_gutenberg
from mlm_lab.data.sources import read_documents
from mlm_lab.errors import ConfigError
from tests.conftest import data_file


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# TextCorpus


def test_text_corpus_validation_is_the_last_documents(tmp_path):
    f = write(tmp_path / "d.txt", "".join(f"doc {i}\n{EOT}\n" for i in range(40)))
    corpus = TextCorpus(f, val_fraction=0.1, separator=EOT, name="mine").load(str(tmp_path))
    assert corpus.name == "mine"
    assert corpus.train == [f"doc {i}" for i in range(36)] and corpus.val == [f"doc {i}" for i in range(36, 40)]
    assert list(corpus.files) == [f]


def test_text_corpus_single_document_splits_at_a_line_boundary(tmp_path):
    lines = [f"line {i:03d}\n" for i in range(100)]
    corpus = TextCorpus(write(tmp_path / "one.txt", "".join(lines)), val_fraction=0.05).load(None)
    assert corpus.train[0] + corpus.val[0] == "".join(lines)
    assert corpus.val[0].startswith("line ") and corpus.train[0].endswith("\n")
    assert 4 <= corpus.val[0].count("\n") <= 6


def test_text_corpus_with_val_path_and_a_list_of_train_files(tmp_path):
    a, b = write(tmp_path / "a.txt", "a"), write(tmp_path / "b.txt", "b")
    corpus = TextCorpus([a, b], val_path=write(tmp_path / "v.txt", "v")).load(None)
    assert (corpus.train, corpus.val, sorted(corpus.files)) == (["a", "b"], ["v"], sorted([a, b, str(tmp_path / "v.txt")]))


def test_text_corpus_errors(tmp_path):
    one_line = write(tmp_path / "one.txt", "no line break at all")
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_fraction: the corpus is one document.*val_path"):
        TextCorpus(one_line).load(None)
    two = write(tmp_path / "two.txt", f"a\n{EOT}\nb\n")
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_fraction: 0\.9 of 2 documents leaves none to train on"):
        TextCorpus(two, separator=EOT, val_fraction=0.9).load(None)
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_fraction: must be between 0 and 1"):
        TextCorpus(two, val_fraction=1.5).load(None)
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_path: .*missing\.txt does not exist"):
        TextCorpus(two, val_path=str(tmp_path / "missing.txt")).load(None)


def test_text_corpus_from_a_url_records_the_url(tmp_path):
    (tmp_path / "www").mkdir()
    write(tmp_path / "www" / "book.txt", "one\ntwo\nthree\nfour\n")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/book.txt"
        corpus = TextCorpus(url, val_fraction=0.25).load(str(tmp_path / "cache"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert corpus.train == ["one\ntwo\nthree\n"] and corpus.val == ["four\n"]
    assert list(corpus.files) == [url]


# Cervantes


def test_cervantes_on_the_quijote_excerpt():
    # the excerpt (tests/data/README.md) has 6 chapters; the last two, LXXIII and LXXIV, are 28% of its text
    path = data_file("cervantes/quijote.txt")
    corpus = Cervantes(path=path, val_fraction=0.3).load(None)
    train, val = "".join(corpus.train), "".join(corpus.val)
    assert "Project Gutenberg" not in train + val and "\r" not in train + val
    assert train.startswith("El ingenioso hidalgo") and val.endswith("Fin")
    assert 0.25 < len(val) / len(train + val) < 0.31
    assert all(chapter.startswith("Capítulo LXX") for chapter in corpus.val)  # whole chapters from the end of part 2
    assert len(corpus.val) == 2 and corpus.val[-1].startswith("Capítulo LXXIV")
    assert train + val == strip_gutenberg(read_documents(path)[0][0])
    assert corpus.files == {path: "3b5adcca0d269c125046341561f44cbfe21f3d43dae1280884dc26a69bbe75f2"}


def test_cervantes_holds_out_whole_chapters_from_training_and_validation():
    path = data_file("cervantes/quijote.txt")
    plain = Cervantes(path=path, val_fraction=0.3).load(None)
    corpus = Cervantes(path=path, val_fraction=0.3, heldout_chapters=["I.2", "II.72"]).load(None)
    assert [c.split(".", 1)[0] for c in corpus.heldout] == ["Capítulo II", "Capítulo LXXII"]
    assert not set(corpus.heldout) & set(corpus.train + corpus.val)
    assert sorted(corpus.train + corpus.val + corpus.heldout) == sorted(plain.train + plain.val)
    assert corpus.val and corpus.val == plain.val[-len(corpus.val) :]  # validation: still the last chapters
    assert corpus.fingerprint() != Cervantes(path=path, val_fraction=0.3, heldout_chapters=["I.2"]).load(None).fingerprint()
    with pytest.raises(ConfigError, match=r"heldout_chapters: names chapters the book lacks: \['I.33'\] \(it has I.1 ... II.74\)"):
        Cervantes(path=path, heldout_chapters=["I.2", "I.33"]).load(None)


def test_cervantes_errors(tmp_path):
    plain = write(tmp_path / "plain.txt", "Capítulo primero\nuno\nCapítulo II\ndos\n")
    with pytest.raises(ConfigError, match=r"data\.corpus\.gutenberg_header: no '\*\*\* START"):
        Cervantes(path=plain).load(None)
    assert Cervantes(path=plain, gutenberg_header=False, val_fraction=0.5).load(None).val == ["Capítulo II\ndos"]
    with pytest.raises(ConfigError, match=r"data\.corpus\.path: holds no 'Capítulo"):
        Cervantes(path=write(tmp_path / "none.txt", "no chapters\n"), gutenberg_header=False).load(None)
    with pytest.raises(ConfigError, match=r"data\.corpus\.sha256: .* expects " + "0" * 64):
        Cervantes(path=plain, sha256="0" * 64).load(None)


def test_tail_count_takes_the_closest_whole_items():
    assert tail_count([10, 10, 10, 10], 0.25) == 1
    assert tail_count([50, 30, 10, 10], 0.2) == 2
    assert tail_count([100, 1], 0.9) == 1  # never every item


# TinyStories


def test_tinystories_on_the_excerpts():
    train = [data_file("tinystories/train.txt"), data_file("tinystories/train_v2_gpt4.txt")]
    valid = data_file("tinystories/valid.txt")
    corpus = TinyStories(path=train, val_path=valid).load(None)
    assert len(corpus.train) == 160 + 40 and len(corpus.val) == 210
    raw = Path(valid).read_text(encoding="utf-8")
    assert corpus.val == [story.strip("\n") for story in raw.split(EOT)[:-1]]  # byte for byte
    assert corpus.train[0].startswith("One day, a little girl named Lily found a needle in her room.")
    assert corpus.train[160].startswith("Once upon a time there was a little boy named Ben.")
    # The .txt train files had one paragraph per line: every break is now a blank line, as in valid.txt.
    assert all("\n" not in story.replace("\n\n", "") and "\n\n\n" not in story for story in corpus.train)
    assert all(story == story.strip() for story in corpus.train)
    assert set(corpus.files) == {*train, valid}


def test_tinystories_holds_out_the_last_training_stories():
    train = [data_file("tinystories/train.txt"), data_file("tinystories/train_v2_gpt4.txt")]
    valid = data_file("tinystories/valid.txt")
    every = TinyStories(path=train, val_path=valid).load(None)
    corpus = TinyStories(path=train, val_path=valid, heldout_fraction=0.05).load(None)
    assert corpus.heldout == every.train[-10:] and corpus.train == every.train[:-10] and corpus.val == every.val
    with pytest.raises(ConfigError, match="data.corpus.heldout_fraction: must be between 0 and 1"):
        TinyStories(path=train, val_path=valid, heldout_fraction=1.5).load(None)


def test_tinystories_parquet_and_other_separators(tmp_path):
    pq.write_table(pa.table({"text": ["Para one.\n\nPara two.\n", "Single."]}), tmp_path / "train.parquet")
    write(tmp_path / "valid.txt", f"Line one.\nLine two.\n{EOT}\n")
    corpus = TinyStories(path=str(tmp_path / "train.parquet"), val_path=str(tmp_path / "valid.txt")).load(None)
    assert corpus.train == ["Para one.\n\nPara two.", "Single."] and corpus.val == ["Line one.\n\nLine two."]
    same = TinyStories(path=str(tmp_path / "train.parquet"), val_path=str(tmp_path / "valid.txt"), paragraph_separator=None).load(None)
    assert same.val == ["Line one.\nLine two."]
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_path: is not set"):
        TinyStories(path=str(tmp_path / "train.parquet"), val_path=None).load(None)


def test_paragraph_normalisation():
    lines = ["A.\nB.", "C.\n \nD.\nE.", "F."]
    assert paragraph_break(lines) == "\n" and normalise_paragraphs(lines, "\n\n") == ["A.\n\nB.", "C.\n\nD.\n\nE.", "F."]
    blank = ["A.\n\nB.", "C.\nD.\n\nE."]  # a line break inside a paragraph stays one
    assert paragraph_break(blank) == "\n\n" and normalise_paragraphs(blank, "\n\n") == blank
    assert normalise_paragraphs(blank, "\n") == ["A.\nB.", "C.\nD.\nE."]


def test_tinystories_defaults_are_the_hub_files():
    corpus = TinyStories()
    assert corpus.path.endswith("/TinyStoriesV2-GPT4-train.txt") and corpus.val_path.endswith("/TinyStoriesV2-GPT4-valid.txt")


# Mixture


def test_mixture_from_config_loads_each_part(tmp_path):
    a = write(tmp_path / "a.txt", f"a1\n{EOT}\na2\n{EOT}\n")
    b = write(tmp_path / "b.txt", f"b1\n{EOT}\nb2\n{EOT}\n")
    cfg = OmegaConf.create(
        {
            "_target_": "mlm_lab.data.corpus_loaders.Mixture",
            "corpora": {
                "a": {"_target_": "mlm_lab.data.corpus_loaders.TextCorpus", "path": a, "separator": EOT, "val_fraction": 0.5, "name": "a"},
                "b": {"_target_": "mlm_lab.data.corpus_loaders.TextCorpus", "path": b, "separator": EOT, "val_fraction": 0.5, "name": "b"},
            },
            "shares": {"a": 3, "b": 1},
        }
    )
    mixture = instantiate(cfg)
    assert mixture.shares == {"a": 0.75, "b": 0.25}
    loaded = mixture.load(None)
    assert {name: (c.train, c.val) for name, c in loaded.items()} == {"a": (["a1"], ["a2"]), "b": (["b1"], ["b2"])}


def test_mixture_errors(tmp_path):
    part = TextCorpus(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match=r"data\.corpus\.shares: has no share for \['b'\]"):
        Mixture({"a": part, "b": part}, {"a": 1})
    with pytest.raises(ConfigError, match=r"data\.corpus\.shares: names \['c'\], which are not in"):
        Mixture({"a": part}, {"a": 1, "c": 1})
    with pytest.raises(ConfigError, match=r"data\.corpus\.shares\.a: must be a positive number, got 0"):
        Mixture({"a": part}, {"a": 0})
    with pytest.raises(ConfigError, match=r"data\.corpus\.corpora: is empty"):
        Mixture({}, {})
    with pytest.raises(ConfigError, match=r"data\.corpus\.corpora\.a\.path: .*missing\.txt does not exist"):
        Mixture({"a": part}, {"a": 1}).load(None)
