"""A resumed run is the same run: same MLflow run, same losses bit for bit, refused when it would change what it trains."""

import os
import signal
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from mlm_lab.errors import ConfigError
from mlm_lab.runner import train
from tests.conftest import SMALL, compose_config, fresh_store, sqlite_uri

STEPS = [*SMALL, "trainer.log_every=1", "trainer.eval_every=10", "data.n_train=2000", "model.d_model=32"]


def run_train(overrides):
    return train(compose_config(overrides), overrides=overrides)


def losses(client, run_id, name="train/loss"):
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, name), key=lambda m: (m.step, m.timestamp))]


def runs_by_name(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


@pytest.mark.slow
def test_n_steps_then_n_more_equals_2n_steps(store, tmp_path):
    """With a budget-free schedule, extending a finished run's budget continues it exactly."""
    common = [*STEPS, "scheduler=constant", f"tracking.uri={store}"]
    run_train([*common, "trainer.max_steps=30", "tracking.run_name=straight", f"output_dir={tmp_path / 'a'}"])
    run_train([*common, "trainer.max_steps=15", "tracking.run_name=halves", f"output_dir={tmp_path / 'b'}"])
    resume = [f"resume={tmp_path / 'b' / 'checkpoints'}", "trainer.max_steps=30", f"tracking.uri={store}", f"output_dir={tmp_path / 'c'}"]
    run_train(resume)
    client = MlflowClient(store)
    runs = runs_by_name(client, "arithmetic")
    assert set(runs) == {"straight", "halves"}  # the resume logged into the "halves" run
    straight, halves = runs["straight"].info.run_id, runs["halves"].info.run_id
    assert len(losses(client, halves)) == 30
    assert losses(client, halves) == losses(client, straight)
    # the 15-step run also evaluated at its own end, step 15
    assert [v for v in losses(client, halves, "val/loss") if v[0] != 15] == losses(client, straight, "val/loss")
    assert runs["halves"].info.status == "FINISHED" and runs["halves"].data.tags["resumed"] == "step15"
    assert runs["halves"].data.params["trainer.max_steps"] == "15"  # params are write-once; the new config is an artifact
    assert "resumes/step15/config.yaml" in {a.path for a in client.list_artifacts(halves, "resumes/step15")}
    # once more with no budget left: refused before the finished run is reopened
    again = [f"resume={tmp_path / 'c' / 'checkpoints'}", "trainer.max_steps=30", f"tracking.uri={store}", f"output_dir={tmp_path / 'd'}"]
    with pytest.raises(ConfigError, match="already spent its budget"):
        run_train(again)
    assert client.get_run(halves).info.status == "FINISHED" and len(losses(client, halves)) == 30


@pytest.mark.slow
def test_sigterm_checkpoints_marks_killed_and_resume_by_run_id_continues_bit_for_bit(tmp_path):
    """Interrupted wherever the signal lands, the resumed run's losses equal an uninterrupted run's at every step."""
    uri = fresh_store(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": uri}
    args = [sys.executable, "-m", "mlm_lab.apps.train", *STEPS, "trainer.max_steps=60", "scheduler=cosine_warmup", "name=sig"]
    straight = subprocess.run([*args, "tracking.run_name=straight"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]

    proc = subprocess.Popen(
        [*args, "tracking.run_name=cut"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = []
    for line in proc.stdout:
        output.append(line)
        if "step 12/60" in line:
            proc.send_signal(signal.SIGTERM)
            break
    output.append(proc.stdout.read())
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM, "".join(output)[-3000:]
    client = MlflowClient(uri)
    cut = runs_by_name(client, "sig")["cut"]
    assert cut.info.status == "KILLED"
    run_id = cut.info.run_id
    assert cut.data.tags["resume_command"] == f"mlm-train resume={run_id}"
    stopped_at = int(cut.data.tags["interrupted.step"])
    assert 12 <= stopped_at < 60 and f"mlm-train resume={run_id}" in "".join(output)
    assert len(losses(client, run_id)) == stopped_at
    # without a terminal the run printed plain progress lines, and Hydra's log file holds the same ones
    logs = [p.read_text() for p in tmp_path.glob("outputs/*/*/train.log")]
    assert any("step 12/60 (20%)  loss" in text and "eta" in text for text in logs)

    resumed = subprocess.run(
        [sys.executable, "-m", "mlm_lab.apps.train", f"resume={run_id}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = runs_by_name(client, "sig")
    assert runs["cut"].info.status == "FINISHED" and "error" not in runs["cut"].data.tags
    straight_id = runs["straight"].info.run_id
    assert losses(client, run_id) == losses(client, straight_id)
    assert losses(client, run_id, "val/loss") == losses(client, straight_id, "val/loss")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["model.d_model=48"], "model.d_model=48 would change what the resumed run trains"),
        (["optimizer.lr=1e-2"], "optimizer.lr=1e-2 would change"),
    ],
)
def test_resume_refuses_overrides_that_change_the_run(store, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        run_train([f"resume={tmp_path}", *extra, f"tracking.uri={store}", f"output_dir={tmp_path / 'o'}"])


def test_resume_names_what_it_cannot_find(store, tmp_path):
    with pytest.raises(ConfigError, match="neither a checkpoint file"):
        run_train(["resume=nowhere", f"tracking.uri={store}", f"output_dir={tmp_path / 'o'}"])
    with pytest.raises(ConfigError, match="holds no final.pt or latest.pt"):
        run_train([f"resume={tmp_path}", f"tracking.uri={store}", f"output_dir={tmp_path / 'o'}"])
    with pytest.raises(ConfigError, match="cannot fetch a checkpoint of run 0123456789abcdef0123456789abcdef"):
        run_train(["resume=0123456789abcdef0123456789abcdef", f"tracking.uri={store}", f"output_dir={tmp_path / 'o'}"])


@pytest.mark.slow
def test_resume_into_another_store_is_refused(store, tmp_path):
    run_train([*STEPS, "trainer.max_steps=5", f"tracking.uri={store}", f"output_dir={tmp_path / 'a'}"])
    other = sqlite_uri(tmp_path / "other")
    (tmp_path / "other").mkdir()
    with pytest.raises(ConfigError, match="is not in the tracking store"):
        run_train(
            [
                f"resume={tmp_path / 'a' / 'checkpoints' / 'final.pt'}",
                "trainer.max_steps=10",
                f"tracking.uri={other}",
                f"output_dir={tmp_path / 'b'}",
            ]
        )


@pytest.mark.slow
def test_an_untracked_run_resumes_untracked(store, tmp_path):
    run_train([*STEPS, "trainer.max_steps=4", "tracking=none", f"output_dir={tmp_path / 'a'}"])
    folder = tmp_path / "a" / "checkpoints"
    with pytest.raises(ConfigError, match="untracked run. Fix: resume it with tracking=none"):
        run_train([f"resume={folder}", "trainer.max_steps=8", "tracking=mlflow", f"tracking.uri={store}", f"output_dir={tmp_path / 'b'}"])
    run_train([f"resume={folder}", "trainer.max_steps=8", "tracking=none", f"output_dir={tmp_path / 'c'}"])
    from mlm_lab.training.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "c" / "checkpoints" / "final.pt")["step"] == 8
