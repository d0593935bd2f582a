"""Every choice of every group composes and builds; bad keys and types fail at composition."""

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from mlm_lab.errors import ConfigError
from mlm_lab.instantiate import build, check_signature
from mlm_lab.schemas import conf_dir
from tests.conftest import compose_config, local_data

GROUPS = ["tokenizer", "model", "data", "optimizer", "scheduler", "hardware", "trainer", "tracking", "experiment"]


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


ARITHMETIC_SHRINK = ["data.n_train=50", "data.n_val=10", "data.n_test=10"]


def runnable(group: str, choice: str, tmp_path) -> list[str]:
    """Overrides that make `group=choice` build here: text corpora read the excerpts in tests/data, trainable
    tokenizers learn a small vocabulary from text (arithmetic text supports only a few dozen pieces)."""
    chosen = compose_config([f"{group}={choice}", "output_dir=x"], return_hydra_config=True).hydra.runtime.choices
    overrides = [f"{group}={choice}", f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'cache'}"]
    if group == "tokenizer" and choice != "char":
        small_vocab = ["tokenizer.vocab_size=400"] if "vocab_size" in chosen_keys(choice) else []
        return [*overrides, "data=text", *local_data("text"), *small_vocab]
    if chosen["data"] == "arithmetic":
        return [*overrides, *ARITHMETIC_SHRINK]
    tokenizer = [] if group == "experiment" else ["tokenizer=char_corpus"]
    return [*overrides, *tokenizer, *local_data(chosen["data"], tmp_path)]


def chosen_keys(tokenizer_choice: str) -> list[str]:
    return list(compose_config([f"tokenizer={tokenizer_choice}", "output_dir=x"]).tokenizer)


@pytest.mark.parametrize("group, choice", [(g, c) for g in GROUPS for c in choices(g)])
def test_every_choice_composes_and_builds(group, choice, tmp_path):
    cfg = compose_config(runnable(group, choice, tmp_path))
    tokenizer = build(cfg.tokenizer, "tokenizer")
    task = build(cfg.data, "data")
    task.setup(tokenizer)
    assert not tokenizer.needs_fit and tokenizer.encode(task.sample_prompts(1)[0])
    model = build(cfg.model, "model")(vocab_size=tokenizer.vocab_size)
    optimizer = build(cfg.optimizer, "optimizer")(model)
    assert isinstance(optimizer, torch.optim.Optimizer)
    schedule = build(cfg.scheduler, "scheduler").bind(optimizer)
    assert schedule.update(1, 0.0) > 0
    for settings in ("hardware", "trainer", "tracking"):
        assert build(cfg[settings], settings) is not None


def test_every_yaml_matches_its_targets_signature():
    for group in ["tokenizer", "model", "data", "optimizer", "scheduler"]:
        for choice in choices(group):
            cfg = compose_config([f"{group}={choice}", "output_dir=x"])
            check_signature(cfg[group], group)


def test_shared_keys_exist():
    cfg = compose_config(["output_dir=x"])
    for key in [
        "model.d_model",
        "model.n_layers",
        "model.n_heads",
        "model.context_length",
        "data.batch_size",
        "optimizer.lr",
        "optimizer.weight_decay",
        "trainer.max_steps",
        "trainer.eval_every",
        "tracking.uri",
        "tracking.register_as",
        "seed",
    ]:
        node = cfg
        for part in key.split("."):
            assert part in node, key
            node = node[part]


def test_default_is_the_arithmetic_experiment():
    cfg = compose_config(["output_dir=x"])
    assert cfg.name == "arithmetic" and cfg.tracking.experiment == "arithmetic" and cfg.tracking.register_as == "arithmetic"
    assert cfg.data._target_.endswith("ArithmeticTask")
    assert cfg == compose_config(["experiment=arithmetic", "output_dir=x"])


@pytest.mark.parametrize("override", ["trainer.max_stepz=5", "model.d_modle=64", "hardware.gpu=1", "nonsense=1"])
def test_unknown_keys_fail_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


@pytest.mark.parametrize("override", ["trainer.max_steps=abc", "hardware.device=tpu", "hardware.threads=two", "trainer.grad_clip=big"])
def test_wrong_types_fail_at_composition(override):
    with pytest.raises((ConfigCompositionException, ValidationError, ConfigKeyError)) as e:
        compose_config([override])
    assert override.split("=")[0].split(".")[-1] in str(e.value) or override.split("=")[1] in str(e.value)


def test_app_configs_compose():
    gen = compose_config(["model=models:/x/latest", "prompt='1+2='"], config_name="generate", subdir="apps")
    assert gen.model == "models:/x/latest" and gen.prompt == "1+2="
    ev = compose_config(["model=models:/x/latest"], config_name="eval", subdir="apps")
    assert ev.split is None and ev.stride is None and ev.log is True  # null: the task's held-out split, else val


def test_debug_is_listed_last_and_off_unless_chosen():
    defaults = OmegaConf.load(conf_dir() / "config.yaml").defaults
    names = [next(iter(d)) if isinstance(d, DictConfig) else d for d in defaults]
    # size overrides the experiment's width and depth; debug overrides everything
    assert names[-5:] == ["experiment", "size", "seeds", "hparams_search", "debug"] and defaults[-1].debug is None
    assert defaults[-4].size is None and defaults[-3].seeds is None
    assert choices("debug") == ["fast", "overfit"]


@pytest.mark.parametrize("choice", choices("debug"))
def test_debug_configs_are_global_overlays_with_their_command(choice):
    text = (conf_dir() / "debug" / f"{choice}.yaml").read_text()
    assert text.startswith("# @package _global_\n") and f"#   mlm-train debug={choice}\n" in text


@pytest.mark.parametrize("experiment", choices("experiment"))
def test_debug_fast_shrinks_the_model_and_the_budget_and_keeps_the_data(experiment):
    cfg = compose_config([f"experiment={experiment}", "debug=fast", "output_dir=x"])
    preset = compose_config([f"experiment={experiment}", "output_dir=x"])
    assert (cfg.model.d_model, cfg.model.n_layers, cfg.model.n_heads, cfg.trainer.max_steps) == (32, 1, 2, 5)
    assert cfg.hardware.device.name == "cpu" and cfg.trainer.log_checkpoints is False
    assert cfg.tracking._target_ == "mlm_lab.tracking.null_tracker.NullTracker"  # nothing logged, nothing registered
    assert cfg.data == preset.data and cfg.tokenizer == preset.tokenizer and cfg.name == preset.name
    assert cfg.model._target_ == preset.model._target_ and cfg.model.context_length == preset.model.context_length
    model = build(cfg.model, "model")(vocab_size=64)  # every preset's builder takes the tiny shape
    assert sum(p.numel() for p in model.parameters()) < 100_000


def test_debug_overfit_repeats_one_batch_of_the_experiment():
    cfg = compose_config(["debug=overfit", "output_dir=x"])
    preset = compose_config(["output_dir=x"])
    assert cfg.trainer.overfit_batches == 1 and cfg.trainer.max_steps == 200 and cfg.trainer.early_stopping_patience is None
    assert cfg.tracking._target_ == "mlm_lab.tracking.null_tracker.NullTracker"
    assert cfg.model == preset.model and cfg.data == preset.data and cfg.optimizer == preset.optimizer


LM_DATA = ["cervantes", "mixture", "text", "tinystories", "tinystories_parquet"]


def test_language_modelling_configs_share_one_base_and_differ_in_corpus_and_prompts():
    configs = {c: compose_config([f"data={c}", "~experiment", "output_dir=x"]).data for c in LM_DATA}
    shared = {c: {k: v for k, v in OmegaConf.to_container(d).items() if k not in ("corpus", "prompts")} for c, d in configs.items()}
    assert all(s == shared["text"] for s in shared.values()) and shared["text"]["batch_size"] == 32
    assert len({str(d.prompts) for d in configs.values()}) > 1 and "_base" not in choices("data")
    # picking the base itself (data=_base/lm) is harmless: it has no corpus, so nothing is built
    with pytest.raises(ConfigError, match=r"^data\.corpus: has no value"):
        build(compose_config(["data=_base/lm", "output_dir=x"]).data, "data")


def test_hardware_cpu_is_auto_with_the_device_pinned():
    auto, cpu = (OmegaConf.to_container(compose_config([f"hardware={c}", "output_dir=x"]).hardware) for c in ("auto", "cpu"))
    assert cpu == {**auto, "device": cpu["device"]} and cpu["device"].name == "cpu" and auto["device"].name == "auto"


@pytest.mark.parametrize("size", choices("size"))
def test_each_size_of_the_ladder_sets_width_depth_and_heads_over_the_experiment(size):
    cfg = compose_config(["experiment=tinystories", f"size={size}", "output_dir=/tmp/unused"])
    width, depth = (int(part[1:]) for part in size.split("_"))
    assert (cfg.model.d_model, cfg.model.n_layers) == (width, depth) and cfg.model.d_model % cfg.model.n_heads == 0
