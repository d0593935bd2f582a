"""`mlm-eval data.path=FILE` and the pyfunc score mode, on a small text model trained through the CLI."""

import json

import mlflow
import pytest
from mlflow import MlflowClient

from mlm_lab.tracking.mlflow_tracker import load_registered
from tests.conftest import data_file, local_data, run_cli, sqlite_uri

pytestmark = pytest.mark.slow  # trains a text model through the CLI


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """A tiny model of TinyStories registered as `stories`; returns (workdir, tracking uri)."""
    workdir = tmp_path_factory.mktemp("stories")
    uri = sqlite_uri(workdir)
    args = [
        "mlm_lab.apps.train",
        "experiment=tinystories",
        *local_data("text"),
        "tokenizer.vocab_size=512",
        "model.d_model=32",
        "model.n_layers=1",
        "model.n_heads=2",
        "model.context_length=64",
        "data.max_new_tokens=16",
        "trainer.max_steps=20",
        "trainer.eval_every=20",
        "hardware=cpu",
        "data=text",
        "name=stories",
        f"cache_dir={workdir / 'cache'}",
    ]
    result = run_cli(args, cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, uri


def test_eval_scores_a_file_prints_and_logs_bits_per_byte(text_model, tmp_path):
    workdir, uri = text_model
    text = tmp_path / "story.txt"
    text.write_text("Once upon a time, there was a little dog. The dog was happy.\n")
    args = ["mlm_lab.apps.eval", "model=models:/stories/latest", f"data.path={text}", "stride=32", "data.as_trained=false"]  # verbatim
    result = run_cli(args, cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    predictor, _ = load_registered("models:/stories/latest", uri)
    expected = predictor.score([text.read_text()], stride=32)
    assert printed["eval/bits_per_byte"] == pytest.approx(expected["bits_per_byte"], rel=1e-5)
    assert printed["eval/bytes"] == len(text.read_bytes())
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("stories").experiment_id], "tags.`eval.data` = 'story.txt'")
    assert run.data.metrics["eval/bits_per_byte"] == pytest.approx(printed["eval/bits_per_byte"])


def test_eval_reads_a_file_as_the_models_training_corpus_did_unless_told_otherwise(text_model, tmp_path):
    workdir, uri = text_model  # trained on a text corpus split on <|endoftext|> lines (tests/conftest.py local_data)
    stories = ["Once upon a time, there was a little dog.", "The dog was happy. He ran and ran."]
    text = tmp_path / "stories.txt"
    text.write_text("".join(f"{story}\n<|endoftext|>\n" for story in stories))
    scored = {}
    for extra in ([], ["data.as_trained=false"]):
        result = run_cli(
            ["mlm_lab.apps.eval", "model=models:/stories/latest", f"data.path={text}", "log=false", *extra], cwd=workdir, tracking_uri=uri
        )
        assert result.returncode == 0, result.stderr[-3000:]
        scored[bool(extra)] = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    predictor, _ = load_registered("models:/stories/latest", uri)
    assert scored[False]["eval/bits_per_byte"] == pytest.approx(predictor.score(stories)["bits_per_byte"], rel=1e-5)
    assert scored[False]["eval/bytes"] == sum(len(s.encode()) for s in stories)  # the separator lines are not text
    assert scored[True]["eval/bytes"] == len(text.read_bytes())  # verbatim: one document, <|endoftext|> lines and all


def test_eval_of_a_missing_file_names_the_override(text_model, tmp_path):
    workdir, uri = text_model
    result = run_cli(
        ["mlm_lab.apps.eval", "model=models:/stories/latest", f"data.path={tmp_path / 'nope.txt'}"], cwd=workdir, tracking_uri=uri
    )
    assert result.returncode != 0
    assert "data.path" in result.stdout + result.stderr and "nope.txt" in result.stdout + result.stderr


def test_pyfunc_score_mode_returns_one_row_per_text(text_model):
    workdir, uri = text_model
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/stories/latest")
    stories = open(data_file("tinystories/valid.txt")).read().split("<|endoftext|>\n")[:3]
    scores = model.predict({"prompt": stories}, params={"mode": "score"})
    assert list(scores.columns) == ["loss", "perplexity", "bits_per_byte", "tokens", "bytes"]
    assert scores["bytes"].tolist() == [len(s.encode()) for s in stories]
    predictor, _ = load_registered("models:/stories/latest", uri)
    expected = [predictor.score([s])["bits_per_byte"] for s in stories]
    assert scores["bits_per_byte"].tolist() == pytest.approx(expected, rel=1e-5)
    generated = model.predict({"prompt": ["Once upon a time"]}, params={"max_new_tokens": 5, "temperature": 0.0})
    assert isinstance(generated[0], str)
    with pytest.raises(Exception, match="mode"):
        model.predict({"prompt": ["x"]}, params={"mode": "embed"})


def test_eval_without_a_file_rescores_the_runs_validation_split(text_model):
    workdir, uri = text_model
    result = run_cli(["mlm_lab.apps.eval", "model=models:/stories/latest", "log=false"], cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("stories").experiment_id], "tags.`tokenizer.lossless` = 'true'")
    assert printed["val/bits_per_byte"] == pytest.approx(run.data.metrics["val/bits_per_byte"], rel=1e-4)
    bad = run_cli(["mlm_lab.apps.eval", "model=models:/stories/latest", "split=test"], cwd=workdir, tracking_uri=uri)
    assert bad.returncode == 2 and "split" in bad.stdout + bad.stderr and "data.path" in bad.stdout + bad.stderr
