import logging

from mlm_lab.training.progress import Progress, duration


def test_plain_lines_without_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="mlm_lab.training")
    metrics = {"train/loss": 1.25, "train/lr": 1e-3, "train/grad_norm": 0.5, "tokens_per_second": 1234.0}
    with Progress(total_steps=100, bar=None) as p:  # pytest's stderr is not a terminal
        assert p._bar is None
        p.begin(0, 0.0)
        p.step(10, 1.25, 1e-3, 0.1)
        p.line(10, metrics, 0.1)
    line = caplog.records[-1].getMessage()
    assert line.startswith("step 10/100 (10%)  loss 1.2500  lr 1.00e-03  grad_norm 0.5  1234 tok/s  eta ")


def test_a_bar_when_asked(capsys):
    with Progress(total_steps=4, bar=True) as p:
        p.begin(0, 0.0)
        for step in range(1, 5):
            p.step(step, 2.0 / step, 1e-3, step / 4)
    err = capsys.readouterr().err
    assert "4/4" in err and "loss 0.5000" in err


def test_duration():
    assert duration(75) == "1m15s" and duration(3 * 3600 + 120) == "3h02m"
