import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.training.budget import Budget


def test_progress_is_the_largest_fraction_spent():
    b = Budget(max_steps=100, max_tokens=1000, max_minutes=2.0)
    assert b.progress(10, 500, 30.0) == 0.5
    assert b.progress(100, 0, 0.0) == 1.0
    assert b.progress(1, 1, 121.0) > 1.0


def test_total_steps_known_in_advance_unless_timed():
    assert Budget(max_steps=100).total_steps(64) == 100
    assert Budget(max_steps=100, max_tokens=640).total_steps(64) == 10
    assert Budget(max_tokens=650).total_steps(64) == 11
    assert Budget(max_steps=100, max_minutes=1.0).total_steps(64) is None


def test_no_budget_or_a_bad_one_is_refused():
    with pytest.raises(ConfigError, match="trainer.max_steps.*no budget"):
        Budget()
    with pytest.raises(ConfigError, match="trainer.max_tokens"):
        Budget(max_tokens=0)
