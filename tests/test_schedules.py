import math
import re

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser

from mlm_lab.errors import ConfigError
from mlm_lab.training.schedules import constant, cosine, cosine_warmup, linear, plateau, wsd
from tests.conftest import compose_config


def bound(schedule, lr=1.0):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2, 2))]}, {"params": [torch.nn.Parameter(torch.zeros(2))], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=lr)
    return schedule.bind(opt), opt


def lrs(schedule, total: int) -> list[float]:
    """The lr of each step 1..total of a budget in steps (progress = steps done before the step)."""
    return [schedule.update(step, (step - 1) / total) for step in range(1, total + 1)]


def test_cosine_warmup_rises_linearly_then_decays_to_min_lr_ratio():
    s, _ = bound(cosine_warmup(warmup_steps=10, min_lr_ratio=0.1))
    got = lrs(s, 110)
    assert got[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    decay = got[10:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    # the decay runs over the steps after warmup (nanoGPT's formula): halfway there it is halfway between peak and floor
    assert decay[50] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)), abs=0.02)
    assert decay[-1] == pytest.approx(0.1, abs=0.002)


def test_min_lr_is_absolute_and_every_group_follows():
    s, opt = bound(cosine(min_lr=0.02), lr=0.5)
    got = lrs(s, 100)
    assert got[0] == pytest.approx(0.5) and got[-1] == pytest.approx(0.02, abs=1e-3)
    assert [g["lr"] for g in opt.param_groups] == [got[-1]] * 2


def test_linear_and_constant():
    s, _ = bound(linear(min_lr_ratio=0.0))
    got = lrs(s, 10)
    assert got == pytest.approx([1.0 - i / 10 for i in range(10)])
    s, _ = bound(constant(warmup_steps=4))
    assert lrs(s, 8) == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 1, 1])


def test_a_budget_in_time_decays_by_fraction_spent_not_steps():
    s, _ = bound(cosine(min_lr_ratio=0.0))
    assert s.update(1, 0.0) == pytest.approx(1.0)
    assert s.update(2, 0.5) == pytest.approx(0.5)  # step 2, but half the minutes are gone
    assert s.update(3, 0.999) == pytest.approx(0.0, abs=1e-4)


def test_wsd_warms_up_holds_the_peak_then_cools_down_over_the_last_fraction():
    s, opt = bound(wsd(warmup_steps=4, decay_fraction=0.25, min_lr_ratio=0.1), lr=2.0)
    assert [s.update(step, 0.0) for step in range(1, 5)] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    # after warmup (it ended at progress 0), the budget fraction q: stable until 0.75, then linear to the floor
    stable = [s.update(5, q) for q in (0.0, 0.3, 0.6, 0.75)]
    cooldown = [s.update(5, q) for q in (0.8, 0.875, 0.95, 1.0)]
    assert stable == pytest.approx([2.0] * 4)
    assert cooldown == pytest.approx([0.2 + 1.8 * (1 - r) for r in (0.2, 0.5, 0.8, 1.0)])
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.2)] * 2


def test_wsd_1_sqrt_cools_down_faster_early_and_reaches_the_same_floor():
    linear_s, _ = bound(wsd(decay_fraction=0.5, decay_shape="linear"))
    sqrt_s, _ = bound(wsd(decay_fraction=0.5, decay_shape="1-sqrt"))
    assert linear_s.update(1, 0.75) == pytest.approx(0.5) and sqrt_s.update(1, 0.75) == pytest.approx(1 - math.sqrt(0.5))
    assert linear_s.update(2, 0.5) == sqrt_s.update(2, 0.5) == pytest.approx(1.0)
    assert linear_s.update(3, 1.0) == sqrt_s.update(3, 1.0) == pytest.approx(0.0)


def test_plateau_lowers_the_lr_after_patience_evaluations_without_improvement():
    s, _ = bound(plateau(factor=0.5, patience=1), lr=1.0)
    assert s.update(1, 0.0) == 1.0
    for loss, expected in [(2.0, 1.0), (1.5, 1.0), (1.6, 1.0), (1.6, 0.5), (1.4, 0.5), (1.5, 0.5), (1.5, 0.25)]:
        s.observe({"val/loss": loss})
        assert s.update(2, 0.1) == expected, loss


def test_state_dict_round_trip_continues_identically():
    a, _ = bound(plateau(factor=0.5, patience=0, warmup_steps=3))
    lrs(a, 5)
    a.observe({"val/loss": 1.0})
    a.observe({"val/loss": 1.0})
    b, _ = bound(plateau(factor=0.5, patience=0, warmup_steps=3))
    b.load_state_dict(a.state_dict())
    assert [a.update(s, 0.5) for s in range(6, 9)] == [b.update(s, 0.5) for s in range(6, 9)] == [0.5] * 3


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: cosine_warmup(warmup_steps=-1), "scheduler.warmup_steps"),
        (lambda: cosine(min_lr_ratio=1.5), "scheduler.min_lr_ratio"),
        (lambda: plateau(factor=1.0), "scheduler.factor"),
        (lambda: wsd(decay_fraction=0.0), "scheduler.decay_fraction"),
        (lambda: wsd(decay_shape="cosine"), r"scheduler.decay_shape: unknown choice 'cosine'. Fix: use one of \['linear', '1-sqrt'\]"),
        (lambda: bound(cosine(min_lr=2.0), lr=1.0), "scheduler.min_lr"),
        (lambda: plateau(monitor=""), r"scheduler.monitor: must name a validation metric \(val/...\), got ''"),
        (lambda: plateau(monitor="loss"), r"scheduler.monitor: must name a validation metric \(val/...\), got 'loss'"),
    ],
)
def test_bad_settings_name_the_key(make, key):
    with pytest.raises(ConfigError, match=key):
        make()


def test_plateau_needs_its_metric():
    s, _ = bound(plateau(monitor="val/bits_per_byte"))
    with pytest.raises(ConfigError, match="scheduler.monitor"):
        s.observe({"val/loss": 1.0})


@pytest.mark.parametrize(
    "choice, make, key",
    [
        ("cosine_warmup", lambda: cosine_warmup(warmup_steps=-1), "warmup_steps"),
        ("cosine_warmup", lambda: cosine_warmup(min_lr_ratio=2.0), "min_lr_ratio"),
        ("cosine", lambda: cosine(warmup_steps=-1), "warmup_steps"),
        ("linear", lambda: linear(min_lr=-1.0), "min_lr"),
        ("plateau", lambda: plateau(factor=1.0), "factor"),
        ("plateau", lambda: plateau(patience=-1), "patience"),
        ("plateau", lambda: plateau(threshold=-1.0), "threshold"),
        ("plateau", lambda: plateau(monitor="loss"), "monitor"),
        ("wsd", lambda: wsd(decay_fraction=1.5), "decay_fraction"),
        ("wsd", lambda: wsd(warmup_steps=-1), "warmup_steps"),
    ],
)
def test_a_fix_suggests_the_default_the_yaml_runs(choice, make, key):
    """The value an error suggests is the schedule's default, the one conf/scheduler/<choice>.yaml runs."""
    with pytest.raises(ConfigError) as e:
        make()
    suggested = OverridesParser.create().parse_override(re.search(rf"set (scheduler\.{key}=\S+)", str(e.value))[1]).value()
    assert suggested == compose_config([f"scheduler={choice}", "~experiment", "output_dir=x"]).scheduler[key]
