"""`mlm-train`'s exit codes: 2 for bad input (named, with the fix, no traceback), 1 for a run that fails, 0 otherwise."""

import pytest

from tests.conftest import TINY, run_cli


def output(result) -> str:
    return result.stdout + result.stderr


@pytest.mark.slow  # a CLI process per case: the fast tier keeps the in-process checks
def test_train_cli_refuses_bad_input_with_exit_code_2_and_writes_nothing(tmp_path):
    result = run_cli(["mlm_lab.apps.train", "model.n_heads=5"], cwd=tmp_path)
    assert result.returncode == 2
    assert "model.d_model" in result.stderr + result.stdout and "Fix:" in result.stderr + result.stdout
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_run_whose_loss_is_not_finite_exits_1_naming_it(tmp_path):
    bad = ["optimizer=sgd", "optimizer.lr=1e30", "optimizer.momentum=0.0", "trainer.grad_clip=null", "tracking=none"]
    result = run_cli(["mlm_lab.apps.train", *TINY, *bad], cwd=tmp_path, timeout=180)
    assert result.returncode == 1, output(result)[-3000:]
    assert "train/loss is not finite" in output(result) and "Traceback" not in output(result)
