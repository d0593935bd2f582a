import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.training.schedules import constant, cosine_warmup


def test_cosine_warmup_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_warmup(opt, total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    lrs = []
    for _ in range(110):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.55, abs=0.01)
    assert min(lrs[10:]) >= 0.1 - 1e-9 and lrs[-1] == pytest.approx(0.1, abs=1e-3)
    with pytest.raises(ConfigError, match="scheduler.min_lr_ratio"):
        cosine_warmup(opt, 10, min_lr_ratio=2.0)


def test_constant_with_warmup():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = constant(opt, total_steps=10, warmup_steps=4)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 2.0])
    with pytest.raises(ConfigError, match="scheduler.warmup_steps"):
        constant(opt, 10, warmup_steps=-1)
