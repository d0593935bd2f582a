"""Bad input to the apps, run as a user runs them: the console script, a real sqlite store, real runs.

Each case exits 2 with no traceback and a message that names the input and the fix. The store is a copy
of the session's `tiny_runs` (two 10-step arithmetic runs, registered as `arithmetic` versions 1 and 2)
plus one real run that failed before its first checkpoint; the deleted run lives in a second copy.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, compose_config, cpu_share, sqlite_uri

pytestmark = pytest.mark.slow  # a console script per case (a few seconds each)

NO_RUN = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def stores(tiny_runs, tmp_path_factory):
    """The store copies: `uri` (with a FAILED run, `failed`), `deleted_uri` (where version 1's run, `deleted`, is deleted)."""
    from mlm_lab.runner import train

    root = tmp_path_factory.mktemp("bad_input")
    shutil.copy(Path(tiny_runs[0]) / "mlflow.db", root / "mlflow.db")  # artifacts stay where tiny_runs put them (absolute paths)
    uri = sqlite_uri(root)
    overrides = [*TINY, "model.d_model=32", "optimizer.lr=1e30", f"tracking.uri={uri}", f"output_dir={root / 'failed'}"]
    previous = Path.cwd()
    os.chdir(root)
    try:
        with pytest.raises(RuntimeError, match="not finite"):  # a real run that fails at step 2, before any checkpoint
            train(compose_config(overrides), overrides=overrides)
    finally:
        os.chdir(previous)
    client = MlflowClient(uri)
    (failed,) = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id], "attributes.status = 'FAILED'")
    (root / "deleted").mkdir()
    shutil.copy(root / "mlflow.db", root / "deleted" / "mlflow.db")
    deleted_uri = sqlite_uri(root / "deleted")
    deleted = MlflowClient(deleted_uri).get_model_version("arithmetic", "1").run_id
    MlflowClient(deleted_uri).delete_run(deleted)
    return {"uri": uri, "failed": failed.info.run_id, "deleted_uri": deleted_uri, "deleted": deleted, "root": root}


def console_script(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    assert path.is_file(), f"{path} is missing: install the package (pip install -e .) so its console scripts exist"
    return str(path)


def run_app(name: str, args: list[str], cwd: Path, tracking_uri: str) -> subprocess.CompletedProcess:
    """`name ARGS` in a fresh process, as typed in a shell with MLFLOW_TRACKING_URI set."""
    threads = str(cpu_share())
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    return subprocess.run([console_script(name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def refused(result: subprocess.CompletedProcess, *named: str) -> str:
    """Exit 2, no traceback, and every one of `named` (the input, what is wrong, the fix) in the output."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for text in named:
        assert text in output, f"{text!r} not in:\n{output[-3000:]}"
    return output


# (case, mlm-generate's model=, texts the message must hold): `{failed}` and the like are filled from the stores
MODEL_CASES = [
    (
        "unregistered",
        ["model=models:/nosuch/latest"],
        ["model=models:/nosuch/latest: no registered model named 'nosuch'", "registered: arithmetic", "Fix:"],
    ),
    (
        "no-such-version",
        ["model=models:/arithmetic/7"],
        ["model=models:/arithmetic/7: 'arithmetic' has versions 1-2, not 7", "Fix: use one of them, e.g. models:/arithmetic/2"],
    ),
    (
        "no-such-alias",
        ["model=models:/arithmetic@nosuchalias"],
        ["model=models:/arithmetic@nosuchalias: 'arithmetic' has no alias 'nosuchalias' (aliases: champion -> 1)", "Fix:"],
    ),
    (
        "unknown-run",
        [f"model=runs:/{NO_RUN}/model"],
        [f"model=runs:/{NO_RUN}/model: run {NO_RUN} does not exist in the tracking store sqlite", "Fix:"],
    ),
    ("not-a-folder", ["model=/nonexistent/dir"], ["model=/nonexistent/dir: is not a folder", "Fix:"]),
    (
        "failed-run",
        ["model=runs:/{failed}/model"],
        [
            "model=runs:/{failed}/model: run {failed} ended FAILED and logged no model",
            "Fix: use a model a finished run registered",
            "rerun={failed}",
        ],
    ),
]


@pytest.mark.parametrize(("args", "named"), [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES])
def test_a_model_the_store_does_not_hold_is_named_with_what_it_holds(stores, tmp_path, args, named):
    result = run_app("mlm-generate", [a.format(**stores) for a in args] + ["prompt=1+2="], tmp_path, stores["uri"])
    output = refused(result, *(n.format(**stores) for n in named))
    assert "No such artifact" not in output  # what MLflow said of a missing folder (its last name, as if an artifact)


def test_eval_loads_its_model_through_the_same_checks(stores, caplog):
    """mlm-eval's model= is looked up like mlm-generate's (one in-process call: the app body, as Hydra calls it)."""
    from mlm_lab.apps.eval import app

    with pytest.raises(SystemExit) as info:
        app(compose_config(["model=models:/arithmetic/7", f"tracking_uri={stores['uri']}", "log=false"], "eval", "apps"))
    assert info.value.code == 2 and "model=models:/arithmetic/7: 'arithmetic' has versions 1-2, not 7. Fix:" in caplog.text


def test_num_samples_0_is_named(stores, caplog):
    """Held before these tests too: mlm-generate's body is wrapped, and the predictor's ConfigError is raised inside it."""
    from mlm_lab.apps.generate import app

    with pytest.raises(SystemExit) as info:
        app(
            compose_config(
                ["model=models:/arithmetic/latest", "prompt='1+2='", "num_samples=0", f"tracking_uri={stores['uri']}"], "generate", "apps"
            )
        )
    assert info.value.code == 2 and "num_samples: must be in [1, 1024], got 0. Fix:" in caplog.text


def test_resuming_a_deleted_run_is_refused_before_any_work(stores, tmp_path):
    run_id, uri = stores["deleted"], stores["deleted_uri"]
    args = [f"resume={run_id}", "trainer.max_steps=20", f"tracking.uri={uri}", f"output_dir={tmp_path / 'out'}"]
    output = refused(
        run_app("mlm-train", args, tmp_path, uri), f"resume: run {run_id} was deleted", "Fix: restore it first", "runs restore"
    )
    assert "model: Transformer" not in output and not (tmp_path / "out" / "checkpoints").exists()  # no model built, nothing written


def test_resuming_a_failed_run_without_a_checkpoint_says_so_and_how_to_start_again(stores, tmp_path):
    failed = stores["failed"]
    output = refused(
        run_app("mlm-train", [f"resume={failed}", f"output_dir={tmp_path / 'out'}"], tmp_path, stores["uri"]),
        f"run {failed} is FAILED and logged no checkpoint",
        f"Fix: run its command again from the start (mlm-train rerun={failed})",
    )
    assert "set tracking.uri" not in output  # the store is the right one


def test_eval_of_a_file_the_tokenizer_cannot_encode_names_the_file_and_the_character(stores, tmp_path):
    text = tmp_path / "prices.txt"
    text.write_text("12+34=46 costs 5€\n")
    result = run_app("mlm-eval", ["model=models:/arithmetic/latest", f"data.path={text}", "log=false"], tmp_path, stores["uri"])
    refused(result, f"data.path={text}: the model's tokenizer cannot encode document 1 of 1", "is not in the tokenizer alphabet", "Fix:")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (bytes(range(128, 256)) * 4, "is not a tracking journal: byte 0x80 at offset 0 is not UTF-8 text"),
        (b"", "is empty, so it is not a run's journal"),
    ],
    ids=["binary", "empty"],
)
def test_upload_of_a_file_that_is_not_a_journal_is_refused_by_name(stores, tmp_path, content, named):
    journal = tmp_path / "tracking_journal.jsonl"
    journal.write_bytes(content)
    refused(run_app("mlm-upload", [f"journal={journal}"], tmp_path, stores["uri"]), f"journal={journal}: {named}", "Fix: pass the")
