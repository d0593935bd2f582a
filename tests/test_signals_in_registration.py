"""Ctrl-C after training, in the final evaluation and in the registration: a model version exists only for a run that
FINISHED and passed its reload check, and the run's own writes never meet `database is locked`.
Real `mlm-train` processes, real signals, one real sqlite store (split from test_signals_after_training.py so the
two run on two workers).
"""

import signal
import sys

import pytest
from mlflow import MlflowClient

from tests.conftest import fresh_store
from tests.signal_runs import (
    AFTER_TEST,
    TRAIN,
    assert_every_version_finished_and_checked,
    assert_killed_with_resume_command,
    cut,
    the_run,
    versions,
)

pytestmark = pytest.mark.slow


def test_ctrl_c_in_the_evaluation_and_in_the_registration_leave_no_unfinished_version_and_no_lock_storm(tmp_path):
    client = MlflowClient(fresh_store(tmp_path))
    code, output = cut(tmp_path, TRAIN, "test: test/exact_match", signal.SIGINT)
    run_id = assert_killed_with_resume_command(client, code, output, signal.SIGINT, AFTER_TEST)
    assert "KeyboardInterrupt" not in output

    # Ctrl-C once the version is being created: the registration and the run's end go on, and the run FINISHES
    resume = [sys.executable, "-m", "mlm_lab.apps.train", f"resume={run_id}"]
    code, output = cut(tmp_path, resume, "registered model 'cut'", signal.SIGINT)
    assert "database is locked" not in output and "Traceback" not in output, output[-3000:]
    run = the_run(client)
    assert run.info.status == "FINISHED", output[-3000:]
    assert [v.version for v in versions(client, run_id)] == [1]
    assert code in (0, 130), output[-3000:]  # 130 when the signal came after the run ended, in the process's own exit
    assert_every_version_finished_and_checked(client)
