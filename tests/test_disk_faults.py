"""A full disk and a read-only folder under the checkpoints: real filesystems, real errors.

Each case runs in a private user and mount namespace (`unshare -rm`, no privileges needed) where a
small tmpfs is mounted on the checkpoint folder: a write past its size fails with ENOSPC, and a
remount makes it read-only (EROFS). The mounts vanish with the namespace, so what the run left
there is copied out before it ends.
"""

import filecmp
import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

from mlm_lab.training.checkpoint import load_checkpoint
from tests.conftest import TINY, fresh_store, run_cli


def in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a shell script in a private user and mount namespace; fails (never skips) where Linux allows none."""
    result = subprocess.run(["unshare", "-rm", "sh", "-euc", script], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert "unshare failed" not in result.stderr, "this test needs Linux user namespaces (unshare -rm): " + result.stderr
    return result


CHECKPOINTER = textwrap.dedent(
    """
    import json, os, subprocess, sys, torch
    from mlm_lab.training.checkpoint import CheckpointWriteError, check_writable, load_checkpoint, save_checkpoint
    from mlm_lab.errors import ConfigError

    folder = sys.argv[1]
    path = os.path.join(folder, "latest.pt")
    small = {"step": 1, "w": torch.arange(25_000, dtype=torch.float32)}  # 100 kB: fits in the 256 kB tmpfs
    big = {"step": 2, "w": torch.zeros(100_000)}  # 400 kB: the disk fills half-way through the write
    save_checkpoint(small, path)
    report = {}

    def attempt(name):
        try:
            save_checkpoint(big, path)
            report[name] = "written"
        except CheckpointWriteError as e:
            kept = load_checkpoint(path)
            report[name] = {"error": str(e), "kept_step": kept["step"], "kept_equal": torch.equal(kept["w"], small["w"]),
                            "files": sorted(os.listdir(folder))}

    attempt("full")
    subprocess.run(["mount", "-o", "remount,ro", folder], check=True)
    attempt("read_only")
    try:
        check_writable(folder)
        report["check"] = "writable"
    except ConfigError as e:
        report["check"] = str(e)
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_a_full_or_read_only_disk_gives_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "probe.py").write_text(CHECKPOINTER)
    result = in_namespace(f"mount -t tmpfs -o size=256k tmpfs ckpt; {shlex.quote(sys.executable)} probe.py ckpt", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    for case, reason in (("full", "No space left on device"), ("read_only", "Read-only file system")):
        got = report[case]
        assert got != "written", case
        assert reason in got["error"] and "ckpt/latest.pt" in got["error"], got["error"]
        assert "The previous latest.pt is intact" in got["error"] and "Fix: free space" in got["error"] and "resume=" in got["error"]
        assert got["kept_step"] == 1 and got["kept_equal"], case
        assert got["files"] == ["latest.pt"], f"{case}: a temporary file was left behind: {got['files']}"
    assert "is not writable (Read-only file system)" in report["check"] and "hydra.run.dir" in report["check"]


@pytest.mark.slow
def test_a_run_whose_disk_fills_fails_clearly_and_its_last_checkpoint_resumes(tmp_path):
    """A run leaves latest.pt; resumed on a disk with room for one checkpoint only, its next write fails."""
    uri = fresh_store(tmp_path)
    common = ["trainer.checkpoint_every=5", "trainer.keep_best=0", "trainer.log_checkpoints=false", "hydra.run.dir=run"]
    first = run_cli(["mlm_lab.apps.train", *TINY, *common, "trainer.max_steps=10"], cwd=tmp_path, tracking_uri=uri)
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    (tmp_path / "before.pt").write_bytes((checkpoints / "latest.pt").read_bytes())
    room = (checkpoints / "latest.pt").stat().st_size * 3 // 2  # one checkpoint, not two
    (checkpoints / "final.pt").unlink()
    python = shlex.quote(sys.executable)
    resume_args = [*common, "trainer.max_steps=40", "trainer.eval_every=20", "resume=run/checkpoints"]
    resume = shlex.join(["-m", "mlm_lab.apps.train", *resume_args])
    script = (
        f"cp run/checkpoints/latest.pt held.pt; mount -t tmpfs -o size={room} tmpfs run/checkpoints; mv held.pt run/checkpoints/latest.pt; "
        f"rc=0; MLFLOW_TRACKING_URI={uri} {python} {resume} || rc=$?; "
        "mkdir after; cp -a run/checkpoints/. after/; exit $rc"
    )
    second = in_namespace(script, tmp_path)
    out = second.stdout + second.stderr
    assert second.returncode == 1, out[-3000:]
    assert "cannot write checkpoint" in out and "No space left on device" in out and "The previous latest.pt is intact" in out
    assert "Traceback" not in out, out[-3000:]
    assert sorted(p.name for p in (tmp_path / "after").iterdir()) == ["latest.pt"]  # no temporary file left
    assert filecmp.cmp(tmp_path / "after" / "latest.pt", tmp_path / "before.pt", shallow=False)  # untouched, byte for byte
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["error_type"] == "CheckpointWriteError"

    # space again: the same checkpoint resumes and the run finishes
    third = run_cli(["mlm_lab.apps.train", *resume_args], tmp_path, uri)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"latest.pt at step {load_checkpoint(tmp_path / 'before.pt')['step']}" in third.stdout + third.stderr
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_a_read_only_checkpoint_folder_is_refused_before_training(tmp_path):
    uri = fresh_store(tmp_path)
    command = shlex.join([sys.executable, "-m", "mlm_lab.apps.train", *TINY, "hydra.run.dir=run"])
    mount = "mkdir -p run/checkpoints; mount -t tmpfs tmpfs run/checkpoints; mount -o remount,ro run/checkpoints"
    script = f"{mount}; MLFLOW_TRACKING_URI={uri} {command}"
    result = in_namespace(script, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-3000:]
    assert "checkpoint folder" in out and "is not writable (Read-only file system)" in out and "Fix:" in out
    assert "step 5" not in out and "Traceback" not in out  # refused before the first step
    assert mlflow.MlflowClient(uri).get_experiment_by_name("arithmetic") is None  # no run was started
