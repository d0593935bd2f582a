"""The training loop on a tiny arithmetic model: metrics, budgets, accumulation, clipping, checkpoints, resume."""

import math
import os
import signal

import pytest
import torch

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.splits import evaluate_loss
from mlm_lab.hardware import Hardware
from mlm_lab.models.builders import gpt2
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.training.checkpoint import load_checkpoint
from mlm_lab.training.muon import muon
from mlm_lab.training.optimizers import adamw, sgd
from mlm_lab.training.schedules import constant, cosine_warmup
from mlm_lab.training.signals import TrainingInterrupted
from mlm_lab.training.trainer import Loop, NonFiniteLossError, Trainer


class Recorder:
    """The tracker's logging interface, keeping what it is given."""

    def __init__(self):
        self.metrics, self.texts, self.artifacts, self.checkpoints = [], [], [], []

    def log_metrics(self, metrics, step):
        self.metrics.append((step, dict(metrics)))

    def log_text(self, text, name):
        self.texts.append(name)

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(str(path))

    def log_checkpoint(self, path, name, kind, state, step, metrics, metrics_step):
        # read now: a weights-only file is removed once the call returns (the tracker keeps its own link)
        self.checkpoints.append(
            {
                "name": name,
                "kind": kind,
                "state": state,
                "step": step,
                "metrics": dict(metrics),
                "metrics_step": metrics_step,
                "content": load_checkpoint(path),
            }
        )

    def series(self, name):
        return [(s, m[name]) for s, m in self.metrics if name in m]


def make_loop(tmp_path, optimizer=adamw, schedule=None, precision="fp32", seed=0, batch_size=32, **opt):
    torch.manual_seed(seed)
    tok = CharTokenizer()
    task = ArithmeticTask(high=9, n_train=60, n_val=20, n_test=20, batch_size=batch_size)
    task.setup(tok)
    model = gpt2(tok.vocab_size, context_length=8, d_model=32, n_layers=1, n_heads=2)
    optim = optimizer(model, **({"lr": 3e-3} | opt))
    return Loop(
        model=model,
        train_model=model,
        optimizer=optim,
        schedule=(schedule or constant()).bind(optim),
        task=task,
        hardware=Hardware(device="cpu", precision=precision),
        predictor=Predictor(model, tok, task.text_format),
        tracker=Recorder(),
        generator=torch.Generator().manual_seed(seed),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        checkpoint_extra={"config": {"note": "test"}},
    )


def tokens_per_batch(loop) -> int:
    return loop.task.train_batch(torch.Generator())[0].numel()


def test_fit_lowers_the_loss_logs_metrics_and_writes_checkpoints(tmp_path):
    loop = make_loop(tmp_path)
    per_step = tokens_per_batch(loop)
    before = evaluate_loss(loop.model, loop.task.batches("val"), loop.hardware)
    val = Trainer(max_steps=60, eval_every=30, log_every=20).fit(loop)
    assert val["val/loss"] < before
    rec = loop.tracker
    assert [s for s, _ in rec.series("train/loss")] == [20, 40, 60]
    assert [s for s, _ in rec.series("val/exact_match")] == [30, 60]
    assert all(v > 0 for _, v in rec.series("tokens_per_second")) and all(v > 0 for _, v in rec.series("train/grad_norm"))
    assert rec.series("train/tokens")[-1][1] == 60 * per_step
    assert rec.series("train/effective_batch_size") == [(0, 32)]
    assert rec.texts == ["samples/step_000030.txt", "samples/step_000060.txt"]
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files[-2:] == ["final.pt", "latest.pt"] and len([f for f in files if f.startswith("best-")]) == 1
    final = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    assert final["step"] == 60 and final["progress"]["tokens"] == 60 * per_step and final["config"] == {"note": "test"}
    assert rec.artifacts == [str(tmp_path / "checkpoints" / "latest.pt")]  # at step 30; final.pt goes as a logged model
    final_model = rec.checkpoints[-1]
    assert (final_model["name"], final_model["kind"], final_model["state"], final_model["step"]) == (
        "final-step0000060",
        "final",
        "full",
        60,
    )
    assert final_model["metrics"] == val and final_model["metrics_step"] == 60 and "optimizer" in final_model["content"]


def test_best_checkpoints_are_logged_as_weights_full_state_or_not_at_all(tmp_path):
    loop = make_loop(tmp_path / "weights")
    Trainer(max_steps=60, eval_every=20, log_every=20, keep_best=1).fit(loop)
    best = [c for c in loop.tracker.checkpoints if c["kind"] == "best"]
    assert best and all(c["state"] == "weights" and c["name"] == f"best-step{c['step']:07d}" for c in best)
    assert all(c["metrics_step"] == c["step"] and "val/loss" in c["metrics"] for c in best)
    content = best[-1]["content"]
    # the weights, what init_from and mlm-export read; no training state, so resume= refuses it
    assert {"model", "config", "step"} <= set(content) and not {"optimizer", "progress", "rng"} & set(content)
    on_disk = load_checkpoint(tmp_path / "weights" / "checkpoints" / f"{best[-1]['name']}.pt")
    assert all(torch.equal(on_disk["model"][k], v) for k, v in content["model"].items())
    assert sorted(p.name for p in (tmp_path / "weights" / "checkpoints").glob(".*weights*")) == []  # the temporary copies are gone
    full = make_loop(tmp_path / "full")
    Trainer(max_steps=40, eval_every=20, log_every=20, log_best="full").fit(full)
    assert {c["state"] for c in full.tracker.checkpoints} == {"full"} and "optimizer" in full.tracker.checkpoints[0]["content"]
    none = make_loop(tmp_path / "none")
    Trainer(max_steps=40, eval_every=20, log_every=20, log_best="none").fit(none)
    assert [c["kind"] for c in none.tracker.checkpoints] == ["final"]
    off = make_loop(tmp_path / "off")
    Trainer(max_steps=40, eval_every=20, log_every=20, log_checkpoints=False).fit(off)
    assert off.tracker.checkpoints == [] and off.tracker.artifacts == []
    with pytest.raises(ConfigError, match="trainer.log_best.*weights, full or none"):
        Trainer(log_best="all")


def test_accumulation_averages_micro_batch_gradients_and_grad_norm_is_before_clipping(tmp_path):
    loop = make_loop(tmp_path, optimizer=sgd, lr=1.0, momentum=0.0, batch_size=8)
    reference = make_loop(tmp_path / "ref", optimizer=sgd, lr=1.0, momentum=0.0, batch_size=8)
    # by hand: the same two micro-batches, gradients averaged
    grads = []
    for _ in range(2):
        reference.model.zero_grad()
        x, y = reference.task.train_batch(reference.generator)
        reference.model(x, y)[1].backward()
        grads.append([p.grad.clone() for p in reference.model.parameters()])
    mean = [(a + b) / 2 for a, b in zip(*grads)]
    norm = math.sqrt(sum(float((g * g).sum()) for g in mean))
    clip = norm / 10
    Trainer(max_steps=1, eval_every=1, log_every=1, grad_accum_steps=2, grad_clip=clip, keep_best=0).fit(loop)
    assert loop.tracker.series("train/grad_norm") == [(1, pytest.approx(norm, rel=1e-5))]
    assert loop.tracker.series("train/effective_batch_size") == [(0, 16)]
    for p, p0, g in zip(loop.model.parameters(), reference.model.parameters(), mean):
        torch.testing.assert_close(p.detach(), p0.detach() - g * (clip / norm), rtol=1e-4, atol=1e-6)


def test_a_budget_in_tokens_or_minutes(tmp_path):
    loop = make_loop(tmp_path)
    Trainer(max_steps=None, max_tokens=10 * tokens_per_batch(loop) + 1, eval_every=100, log_every=1, keep_best=0).fit(loop)
    assert loop.tracker.series("train/loss")[-1][0] == 11  # the 11th step is the first past the budget
    loop = make_loop(tmp_path / "time")
    Trainer(max_steps=None, max_minutes=0.01, eval_every=10_000, log_every=1, keep_best=0).fit(loop)
    minutes = [m for _, m in loop.tracker.series("train/minutes")]
    assert minutes[-1] >= 0.01 and all(m < 0.01 for m in minutes[:-1])  # however few steps a loaded machine fits in 0.6 s
    # the schedule runs over the time budget: each step's lr is the cosine at the fraction of the
    # minutes spent before it (exact, however slow the machine)
    loop = make_loop(tmp_path / "sched", schedule=cosine_warmup(warmup_steps=0, min_lr_ratio=0.1))
    Trainer(max_steps=None, max_minutes=0.03, eval_every=10_000, log_every=1, keep_best=0).fit(loop)
    lrs, minutes = loop.tracker.series("train/lr"), loop.tracker.series("train/minutes")
    assert len(lrs) >= 3, "fewer than 3 steps in 1.8 s"
    for (_, lr), (_, spent_minutes) in zip(lrs[1:], minutes[:-1]):
        assert lr == pytest.approx(3e-4 + (3e-3 - 3e-4) * 0.5 * (1 + math.cos(math.pi * spent_minutes / 0.03)), rel=1e-6)
    assert lrs[-1][1] < lrs[1][1]  # it decayed


def test_non_finite_loss_stops_before_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    loop = make_loop(tmp_path, optimizer=sgd, lr=1e30, momentum=0.0)
    trainer = Trainer(max_steps=10, eval_every=10, checkpoint_every=1, grad_clip=None, keep_best=0)
    with pytest.raises(NonFiniteLossError, match="at step 2") as info:
        trainer.fit(loop)
    assert info.value.tags == {"nonfinite.step": "2", "nonfinite.batch": "micro-batch 0 of step 2"}
    assert info.value.batch["inputs"].shape[0] == 32
    latest = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    assert latest["step"] == 1 and all(torch.isfinite(t).all() for t in latest["model"].values())
    assert not (tmp_path / "checkpoints" / "final.pt").exists()


def test_best_k_and_early_stopping(tmp_path):
    loop = make_loop(tmp_path, lr=0.0)  # nothing changes: val/loss never improves after the first evaluation
    Trainer(max_steps=100, eval_every=5, keep_best=2, monitor="val/loss", early_stopping_patience=2).fit(loop)
    assert [s for s, _ in loop.tracker.series("val/loss")] == [5, 10, 15]
    best = sorted(p.name for p in (tmp_path / "checkpoints").glob("best-*"))
    assert best == ["best-step0000005.pt", "best-step0000010.pt"]  # ties keep the earlier ones
    loop = make_loop(tmp_path / "improving", betas=(0.9, 0.95))  # a run that still improves at step 40 (as before adamw took 0.98)
    Trainer(max_steps=40, eval_every=10, keep_best=1, monitor="val/loss").fit(loop)
    assert [p.name for p in (tmp_path / "improving" / "checkpoints").glob("best-*")] == ["best-step0000040.pt"]


@pytest.mark.parametrize("precision, optimizer", [("fp32", adamw), ("fp16", adamw), ("fp32", muon), ("fp16", muon)])
def test_resumed_run_matches_an_uninterrupted_one_bit_for_bit(tmp_path, precision, optimizer):
    straight = make_loop(tmp_path / "a", optimizer, precision=precision)
    Trainer(max_steps=20, eval_every=10, log_every=1).fit(straight)
    first = make_loop(tmp_path / "b", optimizer, precision=precision)
    Trainer(max_steps=10, eval_every=10, log_every=1).fit(first)
    # other init and data seed: all must come from the checkpoint
    resumed = make_loop(tmp_path / "c", optimizer, precision=precision, seed=123)
    checkpoint = load_checkpoint(tmp_path / "b" / "checkpoints" / "final.pt")
    Trainer(max_steps=20, eval_every=10, log_every=1).fit(resumed, checkpoint)
    losses = straight.tracker.series("train/loss")
    assert first.tracker.series("train/loss") + resumed.tracker.series("train/loss") == losses  # exact floats
    assert resumed.tracker.series("val/loss") == straight.tracker.series("val/loss")[1:]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    if precision == "fp16":
        assert straight.tracker.series("train/loss_scale")[-1] == resumed.tracker.series("train/loss_scale")[-1]


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"max_steps": 0}, "trainer.max_steps"),
        ({"max_steps": None}, "trainer.max_steps"),
        ({"max_minutes": -1.0}, "trainer.max_minutes"),
        ({"eval_every": -1}, "trainer.eval_every"),
        ({"grad_clip": 0.0}, "trainer.grad_clip"),
        ({"grad_accum_steps": 0}, "trainer.grad_accum_steps"),
        ({"keep_best": -1}, "trainer.keep_best"),
        ({"monitor_mode": "up"}, "trainer.monitor_mode"),
    ],
)
def test_bad_trainer_settings(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        Trainer(**kwargs)


def test_an_unknown_monitor_is_named(tmp_path):
    with pytest.raises(ConfigError, match="trainer.monitor"):
        Trainer(max_steps=2, eval_every=2, monitor="val/accuracy").fit(make_loop(tmp_path))


class InterruptAt(Recorder):
    """Sends this process SIGINT (a Ctrl-C) when step `at` is logged, as a person at the terminal would."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def log_metrics(self, metrics, step):
        super().log_metrics(metrics, step)
        if step == self.at and "train/loss" in metrics:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_finishes_the_step_writes_latest_and_the_run_resumes_exactly(tmp_path):
    straight = make_loop(tmp_path / "a")
    Trainer(max_steps=12, eval_every=6, log_every=1).fit(straight)
    cut = make_loop(tmp_path / "b")
    cut.tracker = InterruptAt(5)
    with pytest.raises(TrainingInterrupted) as info:
        Trainer(max_steps=12, eval_every=6, log_every=1).fit(cut)
    assert info.value.exit_code == 130 and info.value.step == 5 and info.value.tags["interrupted.signal"] == "SIGINT"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    latest = load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")
    assert latest["step"] == 5
    resumed = make_loop(tmp_path / "c", seed=9)
    Trainer(max_steps=12, eval_every=6, log_every=1).fit(resumed, latest)
    assert cut.tracker.series("train/loss") + resumed.tracker.series("train/loss") == straight.tracker.series("train/loss")


def test_resuming_after_training_ended_restores_the_weights_and_returns_the_last_evaluation(tmp_path):
    """A run stopped in its final evaluation or export resumes from final.pt without one more step."""
    loop = make_loop(tmp_path)
    metrics = Trainer(max_steps=3, eval_every=3).fit(loop)
    final = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    assert final["val_metrics"] == metrics and metrics["val/loss"] > 0
    again = make_loop(tmp_path / "b")
    stepped = []
    again.optimizer.step = lambda *a, **k: stepped.append(1)
    assert Trainer(max_steps=3, eval_every=3).fit(again, final) == metrics
    assert not stepped and again.tracker.series("train/loss") == []
    for name, value in loop.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name]), name


def test_a_spent_budget_is_refused_by_name_with_the_fix(tmp_path):
    loop = make_loop(tmp_path)
    Trainer(max_steps=3, eval_every=3).fit(loop)
    final = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    assert not Trainer(max_steps=3).budget_left(final["progress"]) and Trainer(max_steps=4).budget_left(final["progress"])
    with pytest.raises(ConfigError, match="already spent its budget.*raise trainer.max_steps"):
        Trainer(max_steps=3, eval_every=3).require_budget_left(final["progress"])


def test_overfit_batches_trains_on_the_same_first_batches_every_step(tmp_path):
    """trainer.overfit_batches=1 (lightning's overfit_batches): one batch drawn, repeated, learned by heart; eval stays on val."""
    loop = make_loop(tmp_path, batch_size=8)
    drawn, train_batch = [], loop.task.train_batch
    loop.task.train_batch = lambda generator: drawn.append(train_batch(generator)) or drawn[-1]
    Trainer(max_steps=50, eval_every=50, log_every=1, overfit_batches=1).fit(loop)
    losses = [v for _, v in loop.tracker.series("train/loss")]
    assert len(drawn) == 1 and len(losses) == 50  # the first batch, 50 steps on it
    assert losses[-1] < losses[0] / 4, losses[::10]
    assert [s for s, _ in loop.tracker.series("val/loss")] == [50]


def test_overfit_batches_cycle_through_the_first_n(tmp_path):
    loop = make_loop(tmp_path, batch_size=4)
    seen, forward = [], loop.train_model.forward
    loop.train_model.forward = lambda x, *args, **kwargs: seen.append(x.clone()) or forward(x, *args, **kwargs)
    Trainer(max_steps=3, eval_every=3, overfit_batches=2, grad_accum_steps=2).fit(loop)
    training = seen[:6]  # 3 steps x 2 micro-batches, before the evaluation's forwards
    assert all(torch.equal(training[i], training[i % 2]) for i in range(6)) and not torch.equal(training[0], training[1])
    with pytest.raises(ConfigError, match=r"^trainer\.overfit_batches: must be >= 0, got -1"):
        Trainer(overfit_batches=-1)
