"""A monitor must name a metric the evaluation reports: checked against the task, before training."""

import pytest

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.training.monitors import reported_metrics, require_reported


def test_reported_metrics_are_the_val_loss_and_the_tasks_val_metrics():
    task = ArithmeticTask(high=9, n_train=20, n_val=10, n_test=10)
    task.setup(CharTokenizer())
    reported = reported_metrics(task)
    assert {"val/loss", "val/exact_match"} <= reported and all(m.startswith("val/") for m in reported)


def test_a_monitor_naming_no_reported_metric_is_refused_with_the_fix():
    require_reported("trainer.monitor", None, {"val/loss"}, "unused")  # None monitors nothing
    require_reported("trainer.monitor", "val/loss", {"val/loss"}, "unused")
    with pytest.raises(ConfigError, match=r"^trainer\.monitor: 'val/acc' is not among the evaluation's metrics \['val/loss'\]\. Fix: set"):
        require_reported("trainer.monitor", "val/acc", {"val/loss"}, "set trainer.monitor to one of them")
