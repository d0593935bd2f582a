"""The components of a run, built from its config: every bad value is refused here, before a run is opened.

Resources are checked just before what they size is allocated: the task's data before its setup, the
training batch after it, the model's parameters before the model is built.
"""

import inspect
import logging
import random
from dataclasses import dataclass

import numpy as np
import torch
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from mlm_lab import resources
from mlm_lab.errors import ConfigError, require
from mlm_lab.export.hf_import import imported_config, imported_state, is_hf_ref
from mlm_lab.instantiate import build
from mlm_lab.models.builders import planned_config
from mlm_lab.models.loading import load_weights
from mlm_lab.models.transformer import Transformer
from mlm_lab.predictor import Predictor
from mlm_lab.resume import fetch_logged, is_logged_model
from mlm_lab.tokenizers import tokenizer_from_state
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.tracking.null_tracker import NullTracker
from mlm_lab.tracking.redact import redact_config
from mlm_lab.training.checkpoint import load_checkpoint
from mlm_lab.training.distributed import Distributed, init_distributed
from mlm_lab.training.monitors import reported_metrics, require_reported
from mlm_lab.training.trainer import Trainer

log = logging.getLogger(__name__)


def seed_everything(seed: int, rank: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; returns the generator that draws training batches (a different stream per rank)."""
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**31,
        "seed",
        f"must be an integer in [0, 2**31), got {seed!r}",
        "set seed=0 (or any small integer)",
    )
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    return torch.Generator().manual_seed(seed + rank)


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


def check_monitors(trainer: Trainer, schedule, task) -> None:
    """`trainer.monitor` and `scheduler.monitor` must name a metric the evaluation reports (not found out mid-run)."""
    trainer.require_monitor(task)
    monitor = getattr(schedule, "monitor", None)
    require_reported("scheduler.monitor", monitor, reported_metrics(task), "set scheduler.monitor to one of them")


@dataclass
class Components:
    """Everything a run is made of, built from the config before any training."""

    hardware: object
    trainer: Trainer
    tracker: object
    tokenizer: object
    task: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    generator: torch.Generator
    dist: Distributed
    config: dict  # what is logged, checkpointed and exported: the config with the model's derived sizes filled in

    @property
    def predictor(self) -> Predictor:
        return Predictor(self.model, self.tokenizer, self.task.text_format, self.task.generation_defaults())


def init_weights(model, path: str, include: list[str] | None) -> None:
    """Start from a checkpoint's (or a Hugging Face folder's, hf:DIR) weights: all of them, or only the keys under `include`."""
    if is_hf_ref(path):
        loaded = load_weights(model, imported_state(path, model.config), include=include)
        log.info("initialised %d tensors from %s", len(loaded), path)
        return
    try:
        checkpoint = load_checkpoint(path)
        loaded = load_weights(model, checkpoint["model"], checkpoint.get("model_config"), include)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(
            f"trainer.init_from: cannot start from {path}: {e}\nFix: point trainer.init_from at a checkpoint written by a run "
            "(outputs/DATE/TIME/checkpoints/final.pt), or list the tensors to reuse in trainer.init_include"
        ) from None
    log.info("initialised %d tensors from %s", len(loaded), path)


def setup_task(cfg: DictConfig, tokenizer, dist: Distributed):
    """Build the task and load its data, once it is known to fit; rank 0 first, so the others find the tokenizer and tokens in the cache."""
    task = build(cfg.data, "data")
    resources.require_data_fits(task)
    if not dist.is_main:
        dist.barrier()
    task.setup(tokenizer)
    if dist.is_main:
        dist.barrier()
    resources.require_batch_fits(task.batch_size, task.max_sequence_length)
    return task


def build_model(cfg: DictConfig, tokenizer, task, hardware):
    """The model, once it is known to fit in memory and to see the task's longest example."""
    factory = build(cfg, "model")
    config = planned_config(factory, tokenizer.vocab_size)
    if config is not None:
        resources.require_model_fits(config)
    model = Transformer(config) if config is not None else factory(vocab_size=tokenizer.vocab_size)
    context = model.config.context_length
    require(
        task.max_sequence_length <= context,
        "model.context_length",
        f"is {context} but the longest example needs {task.max_sequence_length} tokens",
        f"set model.context_length={task.max_sequence_length} or more",
    )
    return model.to(hardware.torch_device)


def logged_config(cfg: DictConfig, model) -> dict:
    """The resolved config, credentials kept as ${oc.env:...} (or ***), with what the model derived (d_ff, n_kv_heads, named sizes)."""
    config = redact_config(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), OmegaConf.to_container(cfg, enum_to_str=True))
    section, resolved = config["model"], model.config.to_dict()
    try:
        accepted = inspect.signature(get_object(section["_target_"])).parameters
    except (TypeError, ValueError):
        return config
    # only what the builder accepts: a resumed run builds its model again from this section
    section.update({k: resolved[k] for k in accepted if k in resolved and k != "vocab_size"})
    return config


def build_components(cfg: DictConfig, checkpoint: dict | None = None, tracker=None, trainer: Trainer | None = None) -> Components:
    """Settings, seed, tokenizer, data, model, optimizer, schedule: every bad value fails here.

    `tracker` and `trainer`, when given, were built already (by `preparation.prepare`); a resumed run passes its checkpoint.
    """
    hardware = build(cfg.hardware, "hardware")
    hardware.apply(default_threads=sweep_lib.cpu_share())
    trainer = trainer or build(cfg.trainer, "trainer")
    check_optimizer(cfg.optimizer)
    schedule = build(cfg.scheduler, "scheduler")
    dist = init_distributed(hardware)
    tracker = tracker or build(cfg.tracking, "tracking")
    init_from = trainer.init_from
    if checkpoint is None and is_logged_model(init_from):  # fetched (by every rank) before any data is read
        init_from = fetch_logged(init_from, tracker, "trainer.init_from")[0]
    tracker = tracker if dist.is_main else NullTracker()
    generator = seed_everything(cfg.seed, dist.rank)
    if checkpoint is None and is_hf_ref(trainer.init_from):  # the folder's architecture and ids replace the command's
        cfg = imported_config(cfg, trainer.init_from)
    # a resumed run keeps its own tokenizer: ids must not move under trained weights
    tokenizer = tokenizer_from_state(checkpoint["tokenizer"]) if checkpoint else build(cfg.tokenizer, "tokenizer")
    task = setup_task(cfg, tokenizer, dist)
    check_monitors(trainer, schedule, task)
    model = build_model(cfg.model, tokenizer, task, hardware)
    if trainer.init_from and checkpoint is None:
        init_weights(model, str(init_from), trainer.init_include)
    optimizer = build(cfg.optimizer, "optimizer")(model)
    schedule.bind(optimizer)
    log.info("model: %s, %d parameters, on %s", type(model).__name__, model.num_parameters(), hardware.torch_device)
    log.info("tracking to %s, experiment %r", tracker.resolved_uri, tracker.experiment)
    config = logged_config(cfg, model)
    return Components(hardware, trainer, tracker, tokenizer, task, model, optimizer, schedule, generator, dist, config)
