"""score_file: the documents of a file, a folder or a checked file, scored by the predictor; bad paths name data.path."""

import hashlib
import json

import pytest
import torch

from mlm_lab.data.plain_format import PlainTextFormat
from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.files import score_file, training_reading
from mlm_lab.models.transformer import from_config
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer

STORIES = ["a cab", "bad\nface", "dead beef"]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    tokenizer = CharTokenizer(alphabet="abcdefnotx \n<|>")  # the stories and the separator
    torch.manual_seed(0)
    model = from_config(vocab_size=tokenizer.vocab_size, context_length=16, d_model=16, n_layers=1, n_heads=2)
    return Predictor(model, tokenizer, PlainTextFormat())


def test_a_txt_file_with_a_separator_is_scored_as_its_documents(predictor, tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("".join(f"{s}\n<|endoftext|>\n" for s in STORIES))
    scored = score_file(predictor, str(path), separator="<|endoftext|>", stride=8)
    assert scored == predictor.score(STORIES, stride=8)
    whole = score_file(predictor, str(path), stride=8)  # no separator: the file is one document
    assert whole == predictor.score([path.read_text()], stride=8) and whole != scored


def test_a_tinystories_model_reads_stories_and_paragraphs_as_it_was_trained(predictor, tmp_path):
    corpus = {"_target_": "mlm_lab.data.corpus_loaders.TinyStories", "paragraph_separator": "\n\n"}
    reading = training_reading({"data": {"corpus": corpus}})
    assert reading == {"separator": "<|endoftext|>", "paragraph_separator": "\n\n"}
    path = tmp_path / "stories.txt"  # the .txt layout: one paragraph per line
    path.write_text("".join(f"{s}\n<|endoftext|>\n" for s in STORIES))
    as_trained = score_file(predictor, str(path), stride=8, **reading)
    assert as_trained == predictor.score(["a cab", "bad\n\nface", "dead beef"], stride=8)
    text = {"_target_": "mlm_lab.data.corpus_loaders.TextCorpus", "separator": "###", "text_column": "body"}
    assert training_reading({"data": {"corpus": text}}) == {"separator": "###", "text_column": "body"}
    assert training_reading({"data": {"corpus": {"_target_": "mlm_lab.data.corpus_loaders.Cervantes"}}}) == {}
    assert training_reading({}) == {}  # a model folder without its config: the command alone says


def test_a_jsonl_column_and_a_checked_hash(predictor, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"story": s}) + "\n" for s in STORIES))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert score_file(predictor, str(path), text_column="story", sha256=digest) == predictor.score(STORIES)
    with pytest.raises(ConfigError, match=r"^data\.sha256: .* expects 0{64}\. Fix: "):
        score_file(predictor, str(path), text_column="story", sha256="0" * 64)


def test_a_missing_file_names_data_path(predictor, tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.path: .*nope\.txt"):
        score_file(predictor, str(tmp_path / "nope.txt"))
