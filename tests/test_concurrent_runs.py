"""Two `mlm-train` started in the same second, in one fresh directory (no tracking store yet): both finish, the
store is created once, and each run has an output folder of its own. Real processes, one real sqlite store.
"""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, sqlite_uri
from tests.launch_together import DAY, TIME, launch_together

pytestmark = pytest.mark.slow

RUN = [*TINY, "tracking.register_as=null"]  # the folders and the store are under test, not the registry


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The two runs, launched at once; returns (workdir, [(exit code, output)], the runs in the store, the store's error)."""
    workdir = tmp_path_factory.mktemp("pair")
    uri = sqlite_uri(workdir)
    results = launch_together([RUN, RUN], workdir, uri)
    try:  # two migrations at once can leave a store MLflow no longer opens
        client = MlflowClient(uri)
        runs, error = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id]), None
    except Exception as e:
        runs, error = [], f"{type(e).__name__}: {e}"
    return workdir, results, runs, error


def test_both_runs_of_a_fresh_directory_finish_and_the_store_is_created_once(pair):
    workdir, results, runs, error = pair
    assert error is None
    for code, output in results:
        assert code == 0 and "Traceback" not in output, output[-4000:]
        assert "Online migration" not in output and "database is locked" not in output, output[-4000:]
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    assert (workdir / "mlflow.db.lock").is_file()  # what the second process waited on while the first made the store


def test_two_runs_in_the_same_second_each_write_a_folder_of_their_own(pair):
    workdir, _, runs, _ = pair
    day = workdir / "outputs" / DAY
    assert sorted(p.name for p in day.iterdir()) == [TIME, f"{TIME}-1"]  # the second to claim the second's folder takes -1
    folders = {r.info.run_id: Path(r.data.tags["checkpoint.dir"]).parent for r in runs}
    assert sorted(folders.values()) == [day / TIME, day / f"{TIME}-1"]
    for run_id, folder in folders.items():
        log = (folder / "train.log").read_text()
        assert f"run {run_id} finished" in log and all(other not in log for other in folders if other != run_id)
        assert run_id in (folder / "tracking_journal.jsonl").read_text()
        assert (folder / "checkpoints" / "final.pt").is_file() and (folder / "model").is_dir()
    assert not (workdir / "multirun").exists()  # a run claims no sweep folder
