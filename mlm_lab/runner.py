"""The generic runner: seed -> tokenizer -> data -> model -> optimizer -> fit -> evaluate -> export.

It has no per-experiment branches: an experiment changes behaviour only through the objects its
config names (the task owns its loss mask, its metrics and its text format).
"""

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mlm_lab.builders import build
from mlm_lab.errors import ConfigError, require
from mlm_lab.export import model_spec, write_model_dir
from mlm_lab.generation import Predictor
from mlm_lab.models.loading import load_weights
from mlm_lab.tokenizers import tokenizer_sha256
from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint
from mlm_lab.training.trainer import samples_text

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


@dataclass
class Components:
    """Everything a run is made of, built from the config before any training."""

    hardware: object
    trainer: object
    tracker: object
    tokenizer: object
    task: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    generator: torch.Generator

    @property
    def predictor(self) -> Predictor:
        return Predictor(self.model, self.tokenizer, self.task.text_format, self.task.generation_defaults())


def init_weights(model, path: str, include: list[str] | None) -> None:
    """Start from a checkpoint's weights: all of them, or only the keys under `include` prefixes."""
    try:
        checkpoint = load_checkpoint(path)
        loaded = load_weights(model, checkpoint["model"], checkpoint.get("model_config"), include)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(
            f"trainer.init_from: cannot start from {path}: {e}\nFix: point trainer.init_from at a checkpoint written by a run "
            "(outputs/DATE/TIME/checkpoints/final.pt), or list the tensors to reuse in trainer.init_include"
        ) from None
    log.info("initialised %d tensors from %s", len(loaded), path)


def build_components(cfg: DictConfig) -> Components:
    """Settings, seed, tokenizer, data, model, optimizer, schedule: every bad value fails here."""
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
    if trainer.init_from:
        init_weights(model, trainer.init_from, trainer.init_include)
    optimizer = build(cfg.optimizer, "optimizer")(model.parameters())
    scheduler = build(cfg.scheduler, "scheduler")(optimizer, total_steps=trainer.max_steps)
    log.info("model: %s, %d parameters, on %s", type(model).__name__, model.num_parameters(), hardware.torch_device)
    log.info("tracking to %s, experiment %r", tracker.resolved_uri, tracker.experiment)
    return Components(hardware, trainer, tracker, tokenizer, task, model, optimizer, scheduler, generator)


def fit(c: Components) -> dict:
    counts = {"model/num_parameters": c.model.num_parameters(), "model/num_parameters_non_embedding": c.model.num_parameters(True)}
    c.tracker.log_metrics(counts, step=0)
    model = torch.compile(c.model) if c.hardware.compile else c.model
    return c.trainer.fit(
        model, c.optimizer, c.scheduler, c.task, c.hardware, c.predictor, c.tracker.log_metrics, c.generator, c.tracker.log_text
    )


def evaluate(c: Components) -> tuple[list[str], list[str]]:
    """Held-out metrics and samples, logged; returns the sample prompts and completions."""
    predictor = c.predictor
    for split in c.task.held_out_splits:
        metrics = {f"{split}/{k}": v for k, v in c.task.evaluate(predictor, split).items()}
        c.tracker.log_metrics(metrics, step=c.trainer.max_steps)
        log.info("%s: %s", split, "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    prompts = c.task.sample_prompts()
    completions = predictor.complete(prompts)
    c.tracker.log_text(samples_text(prompts, completions), "samples.txt")
    return prompts, completions


def export(c: Components, output_dir: Path, config: dict) -> str | None:
    """Write the final checkpoint and the model folder, log both, and register the model."""
    checkpoint = {
        "model": c.model.state_dict(),
        "optimizer": c.optimizer.state_dict(),
        "scheduler": c.scheduler.state_dict(),
        "step": c.trainer.max_steps,
        "model_config": model_spec(c.model),
        "tokenizer": c.tokenizer.state(),
        "config": config,
    }
    c.tracker.log_artifact(save_checkpoint(checkpoint, output_dir / "checkpoints" / "final.pt"), "checkpoints")
    model_dir = write_model_dir(output_dir / "model", c.model, c.tokenizer, c.task.text_format, c.task.generation_defaults(), config)
    c.tracker.log_artifact(model_dir / "tokenizer.json", "tokenizer")
    if c.tracker.register_as is None:
        return None
    return c.tracker.register(model_dir, input_example=c.task.sample_prompts(1))


def check_reload(c: Components, model_uri: str, prompts: list[str], expected: list[str]) -> None:
    """Reload the registered model from the store and check it answers as the trained model did."""
    got = c.tracker.load(model_uri).complete(prompts)
    if got != expected:
        raise RuntimeError(f"{model_uri} reloaded answers {got} for {prompts}, but the trained model answered {expected}")
    c.tracker.set_tag("reload_check", "passed")
    log.info("reloaded %s: %s", model_uri, "  ".join(f"{p} -> {a}" for p, a in zip(prompts, got)))


def train(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Build everything from `cfg`, train, evaluate, export and register; returns the validation objective."""
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    c = build_components(cfg)
    with c.tracker.run(config, overrides or []):
        c.tracker.set_tags({"tokenizer.sha256": tokenizer_sha256(c.tokenizer), **c.task.tags()})
        val = fit(c)
        prompts, completions = evaluate(c)
        model_uri = export(c, Path(cfg.output_dir), config)
        if model_uri is not None:
            check_reload(c, model_uri, prompts, completions)
        log.info("run %s finished; registered model: %s", c.tracker.run_id, model_uri)
    return val[f"val/{c.task.objective}"]
