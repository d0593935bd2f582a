"""`mlm-compare`: a table of an experiment's runs, and a named refusal of what it cannot find (exit code 2 from the CLI)."""

import pandas as pd
import pytest
from mlflow import MlflowClient

from mlm_lab.apps.compare import app, run
from mlm_lab.errors import ConfigError
from tests.conftest import compose_config


def test_compare_tabulates_every_run_of_an_experiment_best_first(tiny_runs, tmp_path):
    _, uri = tiny_runs
    written = run(compose_config(["experiment=arithmetic", f"output_dir={tmp_path}", f"tracking_uri={uri}"], "compare", "apps"))
    assert written[0] == tmp_path / "comparison.md" and (tmp_path / "comparison.csv") in written
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id])
    csv = pd.read_csv(tmp_path / "comparison.csv")
    assert sorted(csv["run_id"]) == sorted(r.info.run_id for r in runs) and sorted(csv["model.d_model"]) == [32, 64]
    assert list(csv["val/exact_match"]) == sorted(csv["val/exact_match"], reverse=True)


def test_the_app_exits_2_on_what_it_cannot_find(tiny_runs, tmp_path):
    _, uri = tiny_runs
    with pytest.raises(SystemExit) as info:
        app(compose_config(["experiment=nope", f"tracking_uri={uri}", f"output_dir={tmp_path}"], "compare", "apps"))
    assert info.value.code == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["experiment=nope"], r"no experiment 'nope' in .* \(it has \[.*'arithmetic'"),
        ([], "nothing to compare. Fix: pass experiment=NAME"),
        (["sweep=latest"], "sweep=latest needs the experiment"),
        (["sweep=0123456789abcdef0123456789abcdef"], "is not in the tracking store .* Fix: pass a sweep's parent run id"),
        (["experiment=arithmetic", "scaling=true", "bootstrap=-1"], "bootstrap=-1: the resamples .* Fix: a whole number >= 0"),
    ],
)
def test_compare_refuses_what_it_cannot_find(tiny_runs, tmp_path, overrides, message):
    _, uri = tiny_runs
    cfg = compose_config([*overrides, f"tracking_uri={uri}", f"output_dir={tmp_path}"], config_name="compare", subdir="apps")
    with pytest.raises(ConfigError, match=message):
        run(cfg)
