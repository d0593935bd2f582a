"""The generic runner: seed -> tokenizer -> data -> model -> optimizer -> fit -> evaluate -> export.

It has no per-experiment branches: an experiment changes behaviour only through the objects its
config names (the task owns its loss mask, its metrics and its text format).
"""

import logging
import random
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mlm_lab.builders import build
from mlm_lab.errors import require
from mlm_lab.export import target_config, write_model_dir
from mlm_lab.generation import Predictor
from mlm_lab.training.checkpoint import save_checkpoint

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns the generator that draws training batches."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_optimizer(cfg: DictConfig) -> None:
    """Catch bad optimizer values before torch does, with the key and the fix."""
    lr = cfg.get("lr")
    require(
        isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0,
        "optimizer.lr",
        f"must be a positive number, got {lr!r}",
        "set optimizer.lr to e.g. 1e-3",
    )
    wd = cfg.get("weight_decay", 0.0)
    require(
        isinstance(wd, (int, float)) and wd >= 0,
        "optimizer.weight_decay",
        f"must be a number >= 0, got {wd!r}",
        "set optimizer.weight_decay=0.0 or a small positive value",
    )


def build_model(cfg: DictConfig, tokenizer, task, hardware):
    model = build(cfg, "model")(vocab_size=tokenizer.vocab_size)
    context = model.config.context_length
    require(
        task.max_sequence_length <= context,
        "model.context_length",
        f"is {context} but the longest example needs {task.max_sequence_length} tokens",
        f"set model.context_length={task.max_sequence_length} or more",
    )
    return model.to(hardware.torch_device)


def export(tracker, output_dir: Path, model, optimizer, scheduler, tokenizer, task, config: dict, step: int) -> str | None:
    """Write the final checkpoint and the model folder, log both, and register the model."""
    spec = {**target_config(model, model.model_args())}
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "model_config": spec,
        "tokenizer": tokenizer.state(),
        "config": config,
    }
    tracker.log_artifact(save_checkpoint(checkpoint, output_dir / "checkpoints" / "final.pt"), "checkpoints")
    model_dir = write_model_dir(output_dir / "model", model, tokenizer, task.text_format, task.generation_defaults(), config)
    tracker.log_artifact(model_dir / "tokenizer.json", "tokenizer")
    if tracker.register_as is None:
        return None
    return tracker.register(model_dir, input_example=task.sample_prompts(1))


def train(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Build everything from `cfg`, train, evaluate and register; returns the validation objective."""
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    output_dir = Path(cfg.output_dir)
    hardware = build(cfg.hardware, "hardware")
    hardware.apply()
    trainer = build(cfg.trainer, "trainer")
    tracker = build(cfg.tracking, "tracking")
    check_optimizer(cfg.optimizer)
    generator = seed_everything(cfg.seed)
    tokenizer = build(cfg.tokenizer, "tokenizer")
    task = build(cfg.data, "data")
    task.setup(tokenizer)
    model = build_model(cfg.model, tokenizer, task, hardware)
    optimizer = build(cfg.optimizer, "optimizer")(model.parameters())
    scheduler = build(cfg.scheduler, "scheduler")(optimizer, total_steps=trainer.max_steps)
    predictor = Predictor(model, tokenizer, task.text_format, hardware.torch_device, task.generation_defaults())
    log.info("model: %s, %d parameters, on %s", type(model).__name__, model.num_parameters(), hardware.torch_device)
    log.info("tracking to %s, experiment %r", tracker.resolved_uri, tracker.experiment)

    with tracker.run(config, overrides or []):
        tracker.log_metrics({"model/num_parameters": model.num_parameters()}, step=0)
        val = trainer.fit(model, optimizer, scheduler, task, hardware, predictor, tracker.log_metrics, generator)
        test = {f"test/{k}": v for k, v in task.evaluate(predictor, "test").items()}
        tracker.log_metrics(test, step=trainer.max_steps)
        log.info("test: %s", "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        prompts = task.sample_prompts()
        samples = [f"{p} -> {c}" for p, c in zip(prompts, predictor.complete(prompts))]
        tracker.log_text("\n".join(samples) + "\n", "samples.txt")
        model_uri = export(tracker, output_dir, model, optimizer, scheduler, tokenizer, task, config, trainer.max_steps)
        log.info("run %s finished; model %s registered as %s", tracker.run_id, model_uri, tracker.register_as)
    return val[f"val/{task.objective}"]
