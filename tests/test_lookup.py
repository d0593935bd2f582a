"""Looking up what a command names before any work (`tracking/lookup.py`), and the other bad-input refusals, in process.

The same refusals through the console scripts, against real runs, are in test_bad_input.py.
"""

import json
import re

import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from mlm_lab.apps.common import require_given
from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.files import first_unencodable
from mlm_lab.resume import find_checkpoint
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tracking.lookup import check_model, check_run, refuse_deleted, spans, why_unloadable
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from mlm_lab.tracking.null_tracker import NullTracker
from mlm_lab.tracking.replay import read_journal
from tests.tracking_fixtures import fresh_store

NO_RUN = "0123456789abcdef0123456789abcdef"  # a run id no store holds


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A store with `arithmetic` versions 1-3 (alias champion -> 2) and a run that FAILED; returns (uri, failed run id)."""
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    client = MlflowClient(uri)
    client.create_registered_model("arithmetic")
    for _ in range(3):
        client.create_model_version("arithmetic", source=str(tmp_path))
    client.set_registered_model_alias("arithmetic", "champion", "2")
    failed = client.create_run(client.create_experiment("arithmetic")).info.run_id
    client.set_terminated(failed, "FAILED")
    return uri, failed


def refusal(uri: str, store: str) -> str:
    with pytest.raises(ConfigError) as info:
        check_model(uri, store)
    return str(info.value)


def test_spans_write_versions_as_ranges():
    assert spans([3, 1, 2, 5, 7, 8]) == "1-3, 5, 7-8" and spans([4]) == "4" and spans([]) == ""


def test_references_the_store_holds_pass(registry, tmp_path):
    uri, failed = registry
    for ref in ["models:/arithmetic/1", "models:/arithmetic/latest", "models:/arithmetic@champion", f"runs:/{failed}/model"]:
        check_model(ref, uri)
    check_model("models:/arithmetic/Production", uri)  # a stage: MLflow's to resolve
    check_model("models:/m-0123456789abcdef", uri)  # a logged model's id: MLflow's to resolve
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "MLmodel").write_text("flavors: {}\n")
    check_model(str(tmp_path / "folder"), uri)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("models:/nosuch/latest", r"no registered model named 'nosuch' in the tracking store sqlite:.* \(registered: arithmetic\)\. Fix: "),
        (
            "models:/arithmetic/7",
            r"'arithmetic' has versions 1-3, not 7\. Fix: use one of them, e\.g\. models:/arithmetic/3 \(the newest\)",
        ),
        (
            "models:/arithmetic@nosuch",
            r"'arithmetic' has no alias 'nosuch' \(aliases: champion -> 2\)\. Fix: use models:/arithmetic/latest",
        ),
        (f"runs:/{NO_RUN}/model", rf"run {NO_RUN} does not exist in the tracking store sqlite:.*Fix: pass a run id from that store"),
        ("/nonexistent/dir", r"is not a folder \(nothing is there\).*Fix: .*\(registered: arithmetic\)"),
        ("arithmetic", r"is not a folder .*Fix: use models:/arithmetic/latest \(registered under that name\)"),
    ],
    ids=["unregistered", "no-such-version", "no-such-alias", "unknown-run", "not-a-folder", "a-bare-name"],
)
def test_a_reference_the_store_lacks_is_named_with_what_it_holds(registry, ref, message):
    text = refusal(ref, registry[0])
    assert text.startswith(f"model={ref}: ") and re.search(message, text), text


def test_a_file_or_a_folder_without_mlmodel_is_not_a_model(registry, tmp_path):
    (tmp_path / "plain").mkdir()
    assert "is a folder without an MLmodel file, not a logged model. Fix:" in refusal(str(tmp_path / "plain"), registry[0])
    assert "is a file, not a logged model. Fix:" in refusal(str(tmp_path / "mlflow.db"), registry[0])


def test_an_empty_registry_says_so(tmp_path):
    uri = fresh_store(tmp_path)
    assert "(the store has no registered models)" in refusal("models:/nosuch/latest", uri)


def test_a_deleted_run_is_refused_with_how_to_restore_it(registry):
    uri, failed = registry
    MlflowClient(uri).delete_run(failed)
    with pytest.raises(
        ConfigError, match=rf"^resume: run {failed} was deleted from the tracking store .*mlflow runs restore --run-id {failed}"
    ):
        refuse_deleted(uri, failed, "resume")
    with pytest.raises(ConfigError, match=rf"^model=runs:/{failed}/model: run {failed} was deleted"):
        check_model(f"runs:/{failed}/model", uri)
    assert refuse_deleted(uri, NO_RUN, "resume") is None  # not there: the caller's to say
    with pytest.raises(ConfigError, match="does not exist in the tracking store .*Fix: .*set tracking.uri"):
        check_run(uri, NO_RUN, "rerun", "tracking.uri")


def test_a_failed_run_that_logged_no_model_is_named_after_the_load_fails(registry):
    uri, failed = registry
    assert why_unloadable(f"runs:/{failed}/model", uri).startswith(
        f"model=runs:/{failed}/model: run {failed} ended FAILED and logged no model. Fix:"
    )
    assert why_unloadable("models:/arithmetic/1", uri) is None  # nothing more to say than MLflow's own error
    assert why_unloadable(f"runs:/{NO_RUN}/model", uri) is None


def test_resuming_a_run_without_a_checkpoint_names_rerun(registry):
    uri, failed = registry
    with pytest.raises(ConfigError, match=rf"^resume: run {failed} is FAILED and logged no checkpoint .*Fix: .*mlm-train rerun={failed}"):
        find_checkpoint(failed, MlflowTracker(uri=uri))
    with pytest.raises(ConfigError, match="cannot fetch a checkpoint of run .*Fix: set tracking.uri"):  # untracked: no store to ask
        find_checkpoint(failed, NullTracker())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"is not a tracking journal: byte 0x89 at offset 0 is not UTF-8 text"),
        (b"", r"is empty, so it is not a run's journal"),
        (b"\n\n", r"is empty"),
        (b'{"op": "ru', r"holds no whole line"),
        (b"[1, 2]\n", r"line 1 is not a journal entry"),
        (b'{"op": "run"}\n', r"the run header on line 1 has no run_id or tracking_uri"),
    ],
    ids=["binary", "empty", "blank-lines", "cut-first-line", "not-an-object", "header-without-run"],
)
def test_a_file_that_is_not_a_journal_is_named(tmp_path, content, message):
    path = tmp_path / "tracking_journal.jsonl"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"^journal={re.escape(str(path))}: {message}.*Fix: pass the tracking_journal.jsonl"):
        read_journal(path)


def test_a_journal_with_its_header_still_reads(tmp_path):
    path = tmp_path / "tracking_journal.jsonl"
    header = {"op": "run", "run_id": "a" * 32, "tracking_uri": "sqlite:///x.db"}
    path.write_text(json.dumps(header) + "\n")
    assert read_journal(path) == [(header, [])]


def test_the_first_document_the_tokenizer_refuses_is_found():
    tokenizer = CharTokenizer()
    assert first_unencodable(tokenizer, ["1+2=3", "4+5=9"]) is None
    i, error = first_unencodable(tokenizer, ["1+2=3", "5€", "x"])
    assert i == 1 and "'€' at position 1" in str(error)


def test_required_settings_left_out_are_named_together():
    require_given(OmegaConf.create({"model": "models:/a/1", "prompt": "x"}))
    with pytest.raises(ConfigError, match=r"^model, prompt: are required and were not given\. Fix: add model=models:/NAME/latest prompt="):
        require_given(OmegaConf.create({"model": "???", "prompt": "???", "seed": None}))
    with pytest.raises(ConfigError, match=r"^journal: is required and was not given\. Fix: add journal=outputs/DATE/TIME to the command"):
        require_given(OmegaConf.create({"journal": "???", "nested": {"deep": "???"}}))  # only the app's own top-level settings
