import pytest
import torch

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.errors import ConfigError
from mlm_lab.generation import Predictor
from mlm_lab.hardware import Hardware
from mlm_lab.models.builders import gpt2
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.training.schedules import constant
from mlm_lab.training.trainer import NonFiniteLossError, Trainer, evaluate_loss


def setup(lr=3e-3):
    torch.manual_seed(0)
    tok = CharTokenizer()
    task = ArithmeticTask(high=9, n_train=60, n_val=20, n_test=20, batch_size=32)
    task.setup(tok)
    model = gpt2(tok.vocab_size, context_length=8, d_model=32, n_layers=1, n_heads=2)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    return tok, task, model, opt


def test_fit_lowers_the_loss_and_logs_metrics():
    tok, task, model, opt = setup()
    hw = Hardware(device="cpu")
    before = evaluate_loss(model, task.batches("val"), hw)
    logged = []
    trainer = Trainer(max_steps=60, eval_every=30, log_every=20)
    val = trainer.fit(
        model,
        opt,
        constant(opt, 60),
        task,
        hw,
        Predictor(model, tok, task.text_format),
        lambda m, s: logged.append((s, m)),
        torch.Generator().manual_seed(0),
    )
    assert val["val/loss"] < before
    steps = [s for s, m in logged if "train/loss" in m]
    assert steps == [20, 40, 60]
    assert [s for s, m in logged if "val/exact_match" in m] == [30, 60]
    assert all(m["tokens_per_second"] > 0 for _, m in logged if "tokens_per_second" in m)


def test_non_finite_loss_stops_with_the_step():
    tok, task, model, opt = setup(lr=1e30)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e30)
    trainer = Trainer(max_steps=5, eval_every=5, grad_clip=None)
    with pytest.raises(NonFiniteLossError, match="at step 1"):
        trainer.fit(
            model,
            opt,
            constant(opt, 5),
            task,
            Hardware(device="cpu"),
            Predictor(model, tok, task.text_format),
            lambda m, s: None,
            torch.Generator(),
        )


@pytest.mark.parametrize(
    "kwargs, key",
    [({"max_steps": 0}, "trainer.max_steps"), ({"eval_every": -1}, "trainer.eval_every"), ({"grad_clip": 0.0}, "trainer.grad_clip")],
)
def test_bad_trainer_settings(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        Trainer(**kwargs)
