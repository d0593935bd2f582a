"""A real `mlflow server` on 127.0.0.1: a sweep tracked through it, its model reloaded through it, and its UI in Chromium."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from mlm_lab.evaluation.splits import samples_text
from mlm_lab.tracking.checkpoint_models import run_checkpoints
from mlm_lab.tracking.mlflow_tracker import load_registered
from mlm_lab.tracking.store import ui_url
from tests.conftest import TINY, mlflow_server, run_cli, runs_of

pytestmark = pytest.mark.slow  # a real mlflow server, an Optuna sweep through it, and a browser

SCREENSHOTS = Path(os.environ.get("MLM_LAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`mlflow server` with its own sqlite backend store and artifact root; yields (url, root folder)."""
    root = tmp_path_factory.mktemp("mlflow_server")
    with mlflow_server(root) as url:
        yield url, root


OPTUNA = ["hparams_search=arithmetic_optuna", "hydra.sweeper.n_trials=2"]


@pytest.fixture(scope="module")
def remote_sweep(server, tmp_path_factory):
    """A 2-trial Optuna search through the server from a folder that is not the server's, then the same command again.

    Returns (workdir, parents, children, first output, second output).
    """
    url, _ = server
    workdir = tmp_path_factory.mktemp("client")
    outputs = []
    for _ in range(2):
        result = run_cli(["mlm_lab.apps.train", "-m", *TINY, *OPTUNA, f"tracking.uri={url}"], cwd=workdir)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        outputs.append(result.stdout + result.stderr)
    parents, children = runs_of(url)
    return workdir, parents, children, *outputs


def test_sweep_is_tracked_and_stored_by_the_server(server, remote_sweep):
    url, root = server
    workdir, parents, children, _, _ = remote_sweep
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 2
    assert all(c.info.status == "FINISHED" and c.data.tags["reload_check"] == "passed" for c in children)
    assert parents[0].data.tags["best_run_id"] in {c.info.run_id for c in children}
    # artifacts went through the server into its artifact root; nothing was stored beside the client
    client = MlflowClient(url)
    for child in children:
        (final,) = run_checkpoints(client, child.info.run_id, "final")  # the final checkpoint is a logged model
        assert list((root / "artifacts").rglob(f"models/{final.model_id}/artifacts/checkpoint.pt"))
    assert not (workdir / "mlruns").exists() and not (workdir / "mlflow.db").exists()


def test_registered_model_reloads_through_the_server(server, remote_sweep, tmp_path, monkeypatch):
    url, _ = server
    _, _, children, _, _ = remote_sweep
    monkeypatch.chdir(tmp_path)  # a fresh folder: everything comes from the server
    client = mlflow.MlflowClient(url)
    latest = max(client.search_model_versions("name='arithmetic'"), key=lambda v: int(v.version))
    assert latest.version == "2" and latest.run_id in {c.info.run_id for c in children}
    predictor, config = load_registered("models:/arithmetic/latest", url)
    logged = mlflow.artifacts.load_text(f"runs:/{latest.run_id}/samples.txt")
    prompts = [ast.literal_eval(line.removeprefix("=== ")) for line in logged.splitlines() if line.startswith("=== ")]
    assert len(prompts) >= 4
    assert samples_text(prompts, predictor.complete(prompts)) == logged  # the same answers as the trained model's
    assert config["model"]["d_model"] == int(client.get_run(latest.run_id).data.params["model.d_model"])


def test_optuna_search_optimises_the_objective_and_replays_on_relaunch(remote_sweep):
    _, parents, children, first, second = remote_sweep
    assert "OptunaSweeper" in parents[0].data.tags["sweeper"]
    best = max(children, key=lambda r: r.data.metrics["val/exact_match"])
    reported = float(re.search(r"Best value: ([0-9.e-]+)", first).group(1))
    assert reported == pytest.approx(best.data.metrics["val/exact_match"]) == pytest.approx(parents[0].data.metrics["best/val/exact_match"])
    for child in children:  # the search space of conf/hparams_search/arithmetic_optuna.yaml; the command's budget
        assert 3e-4 <= float(child.data.params["optimizer.lr"]) <= 1e-2
        assert child.data.params["model.d_model"] in ("64", "128")
        assert child.data.params["trainer.max_steps"] == "10"
    # the seeded sampler proposes the same trials again: both are recognised as done, nothing is trained twice
    assert second.count("skipping") == 2 and len(children) == 2
    assert float(re.search(r"Best value: ([0-9.e-]+)", second).group(1)) == reported


@pytest.fixture(scope="module")
def chromium() -> dict:
    """Playwright's launch options for a Chromium: the one on PATH (.ci/run installs Debian's), else Playwright's own.

    Playwright's build is downloaded once, into its cache (~/.cache/ms-playwright); later runs find it there at once.
    Neither to be had fails the test with both fixes: the UI is part of what the suite checks, so it never skips.
    """
    path = os.environ.get("MLM_LAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return {"executable_path": path}
    install = [sys.executable, "-m", "playwright", "install", "chromium"]
    try:
        result = subprocess.run(install, capture_output=True, text=True, timeout=900)
        failure = None if result.returncode == 0 else (result.stdout + result.stderr)[-1000:]
    except subprocess.TimeoutExpired:
        failure = "the download took more than 15 minutes"
    if failure:
        pytest.fail(
            "No Chromium for the MLflow UI test: none on PATH, and `python -m playwright install chromium` failed. "
            "Fix: apt-get install chromium (as .ci/run does), or run `python -m playwright install chromium` where it can "
            f"download, or set MLM_LAB_CHROMIUM to a Chromium binary. Playwright said: {failure}"
        )
    return {}


def shown(page, text: str, on_failure: Path, exact: bool = True) -> None:
    """Wait for `text` on the page; a timeout keeps a screenshot of what the page showed instead."""
    try:
        page.get_by_text(text, exact=exact).first.wait_for()
    except Exception:
        on_failure.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(on_failure))
        raise


def test_mlflow_ui_shows_the_sweeps_child_runs_and_metrics(chromium, server, remote_sweep):  # no browser: fail before the sweep
    from mlflow import MlflowClient
    from playwright.sync_api import sync_playwright

    url, _ = server
    _, parents, children, _, _ = remote_sweep
    parent = parents[0]
    # issue 18: the experiment is tagged as model training; the sweep's best version has its alias beside `champion`
    client = MlflowClient(url)
    assert client.get_experiment(parent.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    aliases = client.get_registered_model("arithmetic").aliases
    assert "champion" in aliases and any(a.startswith("sweep-") for a in aliases)
    shots = {name: SCREENSHOTS / f"mlflow_ui_{name}.png" for name in ("datasets", "champion", "checkpoints")}
    screenshot = SCREENSHOTS / "mlflow_ui_sweep.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 2400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(ui_url(url, parent.info.experiment_id), wait_until="load")  # the link mlm-train prints
            shown(page, parent.info.run_name, SCREENSHOTS / "mlflow_ui_sweep_failed.png")
            landing = page.inner_text("body")  # the model-training view, not the GenAI overview
            # what the README tells a user to do: show val/loss and the swept param as columns, expand the sweep
            page.get_by_role("button", name="Columns").click()
            for column in ("val/loss", "model.d_model"):
                page.get_by_text(column, exact=True).click()
            page.keyboard.press("Escape")
            name_cell = page.locator("[role=gridcell][col-id='attributes.`Run Name`']", has_text=parent.info.run_name)
            name_cell.locator("button").first.click()  # the parent's expander
            for child in children:
                page.get_by_text(child.info.run_name, exact=True).wait_for()
            page.screenshot(path=str(screenshot))
            rows = page.locator("[role=row]").all_inner_texts()
            # the Dataset column names what each child saw; the registered model's page shows its aliases
            shown(page, "arithmetic/train (", SCREENSHOTS / "mlflow_ui_datasets_failed.png", exact=False)
            page.screenshot(path=str(shots["datasets"]))
            page.goto(f"{url}/#/models/arithmetic", wait_until="load")
            shown(page, "champion", SCREENSHOTS / "mlflow_ui_champion_failed.png", exact=False)
            page.screenshot(path=str(shots["champion"]))
            model_text = page.inner_text("body")
            # the experiment's Models tab lists each child's checkpoints, logged as models, with their linked metrics
            page.goto(ui_url(url, parent.info.experiment_id, "models"), wait_until="load")
            shown(page, "final-step0000010", SCREENSHOTS / "mlflow_ui_checkpoints_failed.png")
            page.screenshot(path=str(shots["checkpoints"]))
            models_text = page.inner_text("body")
        finally:
            browser.close()
    # ag-grid renders the pinned name column and the scrolling columns as separate rows, in the same order
    names = [r for r in rows if any(c.info.run_name in r for c in children)]
    values = [r for r in rows if any(repr(c.data.metrics["val/loss"]) in r for c in children)]
    assert len(names) == 2 and len(values) == 2, rows
    for name_row, value_row in zip(names, values):
        child = next(c for c in children if c.info.run_name in name_row)
        assert repr(child.data.metrics["val/loss"]) in value_row
        assert value_row.strip().endswith(child.data.params["model.d_model"])
    assert screenshot.stat().st_size > 10_000 and all(shot.stat().st_size > 10_000 for shot in shots.values())
    assert sum("train.py -m" in row for row in rows) >= 3, rows  # Source: the command (parent and children), whole
    assert "Model registry" in landing and "Send your first trace" not in landing and "Agent versions" not in landing, landing[:2000]
    assert "champion" in model_text and "sweep-" in model_text
    assert models_text.count("final-step0000010") == 2 and models_text.count("best-step0000010") == 2, models_text[:3000]
