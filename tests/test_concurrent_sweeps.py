"""The same sweep (`mlm-train -m`) launched twice at once: one parent, each job run once, no folder shared.

Both launches start in the same second (so their default sweep folders collide) against one existing sqlite
store; each claims a job before it starts it, and skips one the other runs or has finished. Real processes.
"""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, runs_of, sqlite_uri
from tests.launch_together import DAY, TIME, launch_together

pytestmark = pytest.mark.slow

SWEEP = ["-m", *TINY, "trainer.max_steps=5", "trainer.eval_every=5", "tracking.register_as=null", "model.d_model=32,48"]


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """The sweep launched twice at once; returns (workdir, uri, [(exit code, output)])."""
    workdir = tmp_path_factory.mktemp("twice")
    uri = sqlite_uri(workdir)
    MlflowClient(uri).search_experiments()  # the store exists: the launches race over the sweep, not its creation
    return workdir, uri, launch_together([SWEEP, SWEEP], workdir, uri)


def test_a_sweep_launched_twice_at_once_runs_each_job_once_under_one_parent(twice):
    _, uri, results = twice
    for code, output in results:
        assert code == 0 and "Traceback" not in output, output[-4000:]
    parents, children = runs_of(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(c.data.params["model.d_model"] for c in children) == ["32", "48"], "a job ran twice"
    assert {c.info.status for c in children} == {"FINISHED"}
    skipped = sum(output.count("] - skipping ") for _, output in results)
    assert skipped == 2  # each job once: by the launch that did not run it ("is running it" or "already finished it")
    assert not [t for t in parents[0].data.tags if t.startswith("mlm_lab.claim.")]  # every claim released (claims.PREFIX)
    assert parents[0].data.tags["best_run_id"] in {c.info.run_id for c in children}


def test_the_two_launches_share_no_folder(twice):
    workdir, uri, _ = twice
    day = workdir / "multirun" / DAY
    assert sorted(p.name for p in day.iterdir()) == [TIME, f"{TIME}-1"]
    _, children = runs_of(uri)
    job_dirs = [Path(c.data.tags["checkpoint.dir"]).parent for c in children]
    assert len(set(job_dirs)) == 2 and all(d.parent.parent == day for d in job_dirs)
    for job_dir in job_dirs:
        assert len(list(job_dir.glob("checkpoints/final.pt"))) == 1
    assert not (workdir / "outputs").exists()  # a sweep claims no run folder
