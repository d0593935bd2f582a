"""`mlm-compare scaling=true` on runs logged to a real store from a known law: the report, its plots, its refusals."""

import mlflow
import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.scaling_report import report
from tests.conftest import run_cli
from tests.test_scaling import ALPHA, BETA, TRUE_A, isoflop_runs
from tests.tracking_fixtures import fresh_store


@pytest.fixture
def store_with_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("iso")
    parent = client.create_run(experiment_id, tags={"mlm_lab.role": "sweep"}).info.run_id  # the sweep's parent run
    for p in isoflop_runs([1e18, 1e19, 1e20], noise=0.002, seed=1):
        run_id = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
        client.log_param(run_id, "trainer.max_flops", repr(p.flops))
        client.log_metric(run_id, "model/num_parameters", p.params)
        client.log_metric(run_id, "train/tokens", p.tokens)
        client.log_metric(run_id, "val/loss", p.loss)
        client.set_terminated(run_id)
    unbudgeted = client.create_run(experiment_id).info.run_id  # a run trained by steps: not an isoFLOP point
    client.log_param(unbudgeted, "trainer.max_flops", "None")
    client.set_terminated(unbudgeted)
    return uri, tmp_path


def test_the_report_names_the_fitted_exponents_and_a_prediction(store_with_runs):
    uri, tmp_path = store_with_runs
    written = report(uri, tmp_path / "out", "iso", None, "val/loss", 1e21, 1000, bootstrap=50)
    assert [p.name for p in written] == ["scaling.md", "isoflop.png", "frontier.png"]
    text = written[0].read_text()
    assert "over 21 runs at 3 FLOP budgets" in text  # the unbudgeted run is left out
    a = float(text.split("**a = ")[1].split("**")[0])
    assert a == pytest.approx(TRUE_A, abs=0.05) and "Chinchilla" in text and "For a budget of 1e+21 FLOPs" in text
    assert all(p.stat().st_size > 10_000 for p in written[1:])
    alpha, beta = (float(text.split(f"**{name} = ")[1].split("**")[0]) for name in ("alpha", "beta"))
    assert alpha == pytest.approx(ALPHA, abs=0.03) and beta == pytest.approx(BETA, abs=0.03)  # approach 3 on the same runs
    assert "The law misses the runs' losses by" in text and "For 1e+21 FLOPs the law's optimum is N = " in text


def test_the_cli_prints_the_report_and_refuses_runs_without_budgets(store_with_runs):
    uri, tmp_path = store_with_runs
    result = run_cli(
        ["mlm_lab.apps.compare", "experiment=iso", "scaling=true", "bootstrap=20", f"output_dir={tmp_path / 'cli'}"],
        cwd=tmp_path,
        tracking_uri=uri,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "# Scaling: val/loss over 21 runs" in result.stdout and "(20 bootstrap resamples fitted" in result.stdout
    with pytest.raises(ConfigError, match="metrics.val/bits_per_byte.*isoflop"):
        report(uri, tmp_path / "x", "iso", None, "val/bits_per_byte", None, 1000)
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("steps")).info.run_id  # trained by steps only
    client.log_param(run_id, "trainer.max_flops", "None")
    for key in ("model/num_parameters", "train/tokens", "val/loss"):
        client.log_metric(run_id, key, 1.0)
    with pytest.raises(ConfigError, match="none of these runs was budgeted in FLOPs"):
        report(uri, tmp_path / "y", "steps", None, "val/loss", None, 1000)


def test_runs_no_law_fits_get_their_table_and_plot_instead(store_with_runs):
    """A loss that only rises with N at a budget has no isoFLOP minimum: the report shows the runs and says why."""
    uri, tmp_path = store_with_runs
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("flat")
    for flops in (1e18, 1e19):
        for n, loss in ((1e6, 2.0), (1e7, 2.5), (1e8, 3.0)):
            run_id = client.create_run(experiment_id).info.run_id
            client.log_param(run_id, "trainer.max_flops", repr(flops))
            client.log_metric(run_id, "model/num_parameters", n)
            client.log_metric(run_id, "train/tokens", flops / (6 * n))
            client.log_metric(run_id, "val/loss", loss - (flops == 1e19) * 0.5)
            client.set_terminated(run_id)
    written = report(uri, tmp_path / "flat", "flat", None, "val/loss", None, 1000, bootstrap=20)
    text = written[0].read_text()
    assert "no fit" in text and "No scaling law was fitted: every budget needs runs at 3 model sizes" in text
    assert "| 1,000,000 | 2 | 1.5 |" in text and "At C = 1e+19 the lowest val/loss is 1.5, at N = 1,000,000" in text
    assert written[1].name == "isoflop.png" and written[1].stat().st_size > 10_000
    assert "## L(N, D) = E + A / N^alpha" in text  # approach 3 still fits, and says how far it misses the runs


def test_a_sweeps_report_goes_to_its_parent_run(store_with_runs):
    uri, tmp_path = store_with_runs
    client = mlflow.MlflowClient(uri)
    parent = client.search_runs([client.get_experiment_by_name("iso").experiment_id], "tags.mlm_lab.role = 'sweep'")[0].info.run_id
    written = report(uri, tmp_path / "sweep", None, parent, "val/loss", None, 1000, bootstrap=10)
    assert "over 21 runs at 3 FLOP budgets" in written[0].read_text()  # its children: the unbudgeted run has no parent
    logged = sorted(f.path for f in client.list_artifacts(parent, "scaling"))
    assert logged == ["scaling/frontier.png", "scaling/isoflop.png", "scaling/scaling.md"]
