"""`mlm-train`'s exit codes: 2 for bad input (named, with the fix, no traceback), 1 for a run that fails, 0 otherwise."""

from tests.conftest import TINY, run_cli


def output(result) -> str:
    return result.stdout + result.stderr


def test_bad_input_exits_2_with_the_key_and_the_fix_and_no_traceback(tmp_path):
    result = run_cli(["mlm_lab.apps.train", *TINY, "model.n_heads=5", "tracking=none"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, output(result)[-3000:]
    assert "model.d_model" in output(result) and "Fix:" in output(result) and "Traceback" not in output(result)


def test_a_run_whose_loss_is_not_finite_exits_1_naming_it(tmp_path):
    bad = ["optimizer=sgd", "optimizer.lr=1e30", "optimizer.momentum=0.0", "trainer.grad_clip=null", "tracking=none"]
    result = run_cli(["mlm_lab.apps.train", *TINY, *bad], cwd=tmp_path, timeout=180)
    assert result.returncode == 1, output(result)[-3000:]
    assert "train/loss is not finite" in output(result) and "Traceback" not in output(result)
