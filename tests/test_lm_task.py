import math
from pathlib import Path

import pytest
import torch

from mlm_lab.data.corpus_loaders import Cervantes, Mixture, TextCorpus
from mlm_lab.data.lm_task import LanguageModelingTask
from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.splits import evaluate_loss
from mlm_lab.models.builders import llama
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
from tests.conftest import data_file


def write_corpus(directory: Path, name: str, n_docs: int, word: str) -> Path:
    path = directory / f"{name}.txt"
    path.write_text("".join(f"{word} {i} {word}.\n<|endoftext|>\n" for i in range(n_docs)))
    return path


def text_task(path, cache_dir, **kwargs) -> LanguageModelingTask:
    corpus = TextCorpus(path=str(path), separator="<|endoftext|>", val_fraction=0.1)
    return LanguageModelingTask(corpus, block_size=kwargs.pop("block_size", 16), batch_size=8, cache_dir=str(cache_dir), **kwargs)


class FakeHardware:
    torch_device = torch.device("cpu")

    @staticmethod
    def autocast():
        import contextlib

        return contextlib.nullcontext()


def test_validation_bits_per_byte_agree_with_scoring_the_validation_text(tmp_path):
    task = text_task(write_corpus(tmp_path, "a", 60, "abc"), tmp_path / "cache", block_size=32)
    tokenizer = CharTokenizer(alphabet=None)
    task.setup(tokenizer)
    torch.manual_seed(0)
    model = llama(tokenizer.vocab_size, context_length=32, d_model=32, n_layers=1, n_heads=2)
    loss = evaluate_loss(model, task.batches("val"), FakeHardware)
    metrics = task.loss_metrics(loss, "val")
    scored = Predictor(model, tokenizer, task.text_format).score(task.sources["text"].val)
    assert metrics["bits_per_byte"] == pytest.approx(scored["bits_per_byte"], rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(loss))


def test_tokenizer_is_fitted_on_the_training_split_only(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("aaaa bbbb\n<|endoftext|>\n" * 9 + "zzzz\n<|endoftext|>\n")  # z only in the last (validation) document
    task = text_task(path, tmp_path / "cache")
    tokenizer = CharTokenizer(alphabet=None)
    task.setup(tokenizer)
    assert "z" not in tokenizer.chars and "a" in tokenizer.chars


def test_validation_windows_are_fixed_and_training_windows_follow_the_seed(tmp_path):
    path = write_corpus(tmp_path, "a", 80, "hello")
    batches = []
    for _ in range(2):
        task = text_task(path, tmp_path / "cache")
        task.setup(CharTokenizer(alphabet=None))
        batches.append((list(task.batches("val")), task.train_batch(torch.Generator().manual_seed(1))))
    (val_a, train_a), (val_b, train_b) = batches
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(val_a, val_b))
    assert torch.equal(train_a[0], train_b[0])


def test_a_second_task_reads_the_token_cache_instead_of_tokenising(tmp_path):
    path = write_corpus(tmp_path, "a", 40, "abc")
    text_task(path, tmp_path / "cache").setup(CharTokenizer(alphabet=None))
    (bin_file,) = (tmp_path / "cache" / "tokens").glob("*/train.bin")
    mtime = bin_file.stat().st_mtime_ns
    text_task(path, tmp_path / "cache").setup(CharTokenizer(alphabet=None))
    assert bin_file.stat().st_mtime_ns == mtime
    assert len(list((tmp_path / "cache" / "tokens").iterdir())) == 1


def test_mixture_shares_hold_within_one_percent_and_are_reported(tmp_path):
    corpora = {
        "a": TextCorpus(path=str(write_corpus(tmp_path, "a", 40, "aaa")), separator="<|endoftext|>"),
        "b": TextCorpus(path=str(write_corpus(tmp_path, "b", 40, "bbb")), separator="<|endoftext|>"),
    }
    task = LanguageModelingTask(Mixture(corpora, {"a": 0.6, "b": 0.4}), block_size=8, batch_size=7, cache_dir=str(tmp_path / "c"))
    tokenizer = CharTokenizer(alphabet=None)
    task.setup(tokenizer)
    generator = torch.Generator().manual_seed(0)
    a_id = tokenizer.encode("a")[0]
    rows_from_a = 0
    for _ in range(50):
        x, _ = task.train_batch(generator)
        rows_from_a += int((x == a_id).any(dim=1).sum())
    assert abs(rows_from_a / 350 - 0.6) < 0.01
    stats = task.train_stats()
    assert abs(stats["data/share/a"] - 0.6) < 0.01 and abs(stats["data/share/b"] - 0.4) < 0.01


def test_block_size_longer_than_the_corpus_is_a_config_error(tmp_path):
    task = text_task(write_corpus(tmp_path, "a", 10, "ab"), tmp_path / "cache", block_size=4096)
    with pytest.raises(ConfigError, match="data.block_size"):
        task.setup(CharTokenizer(alphabet=None))


def test_cervantes_with_sentencepiece_tags_corpus_and_scores_the_last_chapters(tmp_path):
    corpus = Cervantes(path=data_file("cervantes/quijote.txt"), val_fraction=0.3)  # the excerpt's last 2 of 6 chapters
    task = LanguageModelingTask(corpus, block_size=128, batch_size=4, cache_dir=str(tmp_path))
    tokenizer = SentencePieceTokenizer(vocab_size=1024, cache_dir=str(tmp_path))
    task.setup(tokenizer)
    tags = task.tags()
    assert tags["tokenizer.lossless"] == "true"
    assert tags["corpus.cervantes.sha256"] == task.sources["cervantes"].fingerprint()
    assert tags["corpus.cervantes.file0"].startswith("3b5adcca0d269c125046341561f44cbfe21f3d43dae1280884dc26a69bbe75f2")
    val = task.streams["cervantes"]["val"]
    assert 0.25 < val.n_bytes / (val.n_bytes + task.streams["cervantes"]["train"].n_bytes) < 0.31
    assert val.tokens.dtype.name == "uint16"
    val_text = tokenizer.decode(val.tokens.tolist())
    assert val_text.startswith("Capítulo LXXIII.") and "Capítulo LXXIV" in val_text


def test_a_lossy_tokenizer_is_tagged_so_its_bits_per_byte_are_not_mistaken_for_comparable(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("aaaa bbbb\n<|endoftext|>\n" * 9 + "zzzz\n<|endoftext|>\n")  # z is unseen in training: <unk>
    task = text_task(path, tmp_path / "cache")
    task.setup(CharTokenizer(alphabet=None))
    assert task.tags()["tokenizer.lossless"] == "false"


def test_a_fixed_alphabet_that_misses_characters_of_the_text_is_a_config_error(tmp_path):
    task = text_task(write_corpus(tmp_path, "a", 10, "ab"), tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"^tokenizer\.alphabet: the char tokenizer cannot encode the data \(.*'a'.*Fix: .*char_corpus"):
        task.setup(CharTokenizer(alphabet="0123456789"))


@pytest.mark.parametrize("settings, key", [(dict(temperature=-1.0), "data.temperature"), (dict(temperature=math.nan), "data.temperature"),
                                           (dict(top_k=0), "data.top_k"), (dict(max_new_tokens=2**31), "data.max_new_tokens")])  # fmt: skip
def test_bad_sampling_settings_are_refused_before_training_not_at_the_first_evaluation(tmp_path, settings, key):
    with pytest.raises(ConfigError, match=rf"^{key}: must be"):
        text_task(tmp_path / "a.txt", tmp_path / "cache", **settings)


def test_metric_names_are_the_metrics_an_evaluation_reports(tmp_path):
    task = text_task(write_corpus(tmp_path, "a", 20, "abc"), tmp_path / "cache")
    task.setup(CharTokenizer(alphabet=None))
    assert set(task.metric_names("val")) == {*task.loss_metrics(1.0, "val"), *task.evaluate(None, "val")} == {"perplexity", "bits_per_byte"}


def test_a_corpus_config_without_its_target_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.corpus: is not a corpus but a dict \(a config without its _target_\?\)"):
        LanguageModelingTask({"path": str(tmp_path / "a.txt")}, cache_dir=str(tmp_path))


def test_held_out_chapters_are_a_dev_split_scored_at_every_evaluation_and_a_monitor(tmp_path):
    from mlm_lab.training.monitors import reported_metrics

    corpus = Cervantes(path=data_file("cervantes/quijote.txt"), val_fraction=0.3, heldout_chapters=["I.2"])
    task = LanguageModelingTask(corpus, block_size=32, batch_size=8, cache_dir=str(tmp_path))
    assert task.dev_splits == ()  # nothing is known before setup reads the corpus
    tokenizer = CharTokenizer(alphabet=None)
    task.setup(tokenizer)
    assert task.dev_splits == ("heldout",) and task.split_names == ("train", "val", "heldout")
    assert {"heldout/bits_per_byte", "heldout/loss", "val/bits_per_byte"} <= reported_metrics(task)
    torch.manual_seed(0)
    model = llama(tokenizer.vocab_size, context_length=32, d_model=32, n_layers=1, n_heads=2)
    loss = evaluate_loss(model, task.batches("heldout"), FakeHardware)
    scored = Predictor(model, tokenizer, task.text_format).score(task.sources["cervantes"].heldout)
    assert task.loss_metrics(loss, "heldout")["bits_per_byte"] == pytest.approx(scored["bits_per_byte"], rel=1e-5)
    assert task.loss_metrics(loss, "heldout") != task.loss_metrics(loss, "val")  # its own bytes and targets
    without = LanguageModelingTask(Cervantes(path=data_file("cervantes/quijote.txt")), block_size=32, cache_dir=str(tmp_path))
    without.setup(CharTokenizer(alphabet=None))
    assert without.dev_splits == () and "heldout/loss" not in reported_metrics(without)
