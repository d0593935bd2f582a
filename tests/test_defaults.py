"""One home per default: a group choice's YAML restates its target's defaults equal, or differs on purpose.

A default lives in the builder's signature (components) or the schema dataclass (settings: trainer, hardware,
tracking). A YAML key that restates it must hold the same value; experiment presets (not checked here) hold the
deliberate choices. Where several choices share one target (one corpus class for several corpora), their
differences are the point, and each one is listed in DIFFERENT_ON_PURPOSE with its reason.

Before this test, three defaults disagreed, and it failed on each (the YAML value is what ran, so it became the
signature's): optimizer/adamw betas [0.9, 0.98] vs adamw()'s (0.9, 0.95); scheduler/cosine_warmup warmup_steps 20
vs cosine_warmup()'s 100; data/arithmetic batch_size 256 vs ArithmeticTask's 512.
"""

import dataclasses
import enum
import functools
import inspect
from collections import Counter

import hydra.utils
import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf

from mlm_lab.schemas import conf_dir
from tests.conftest import compose_config

GROUPS = ["tokenizer", "model", "data", "optimizer", "scheduler", "hardware", "trainer", "tracking"]
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}

# (group/choice, dotted key under the group) -> why this choice differs from its target's default, which other choices keep
DIFFERENT_ON_PURPOSE = {
    ("data/cervantes", "prompts"): "each corpus samples from prompts in its own language and style",
    ("data/cervantes", "corpus.heldout_chapters"): "the preset's dev check: the embedded tales held out",
    ("data/tinystories", "corpus.heldout_fraction"): "the preset's dev check: the last training stories held out",
    ("data/mixture", "prompts"): "each corpus samples from prompts in its own language and style",
    ("data/text", "prompts"): "each corpus samples from prompts in its own language and style",
    ("data/tinystories", "prompts"): "each corpus samples from prompts in its own language and style",
    ("data/tinystories_parquet", "prompts"): "each corpus samples from prompts in its own language and style",
    ("data/tinystories_parquet", "corpus.path"): "the hub's parquet files (V1 stories) instead of the V2 .txt files",
    ("data/tinystories_parquet", "corpus.val_path"): "the hub's parquet validation file instead of the V2 .txt file",
    ("hardware/cpu", "device"): "the choice exists to pin the device",
    ("tokenizer/char_corpus", "alphabet"): "learned from the training text instead of arithmetic's fixed alphabet",
    ("tokenizer/sentencepiece_unigram", "model_type"): "the unigram model instead of BPE",
}


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def target_defaults(target) -> dict:
    """Parameter name -> default: a dataclass's field defaults (settings schemas), else the signature's."""
    if dataclasses.is_dataclass(target):
        fields = [f for f in dataclasses.fields(target) if f.init]
        return {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in fields
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    params = inspect.signature(target).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def plain(value):
    """Compare YAML and Python values alike: tuples as lists, enums by name."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value.name if isinstance(value, enum.Enum) else value


def is_set(node: DictConfig, key) -> bool:
    """A value written in the YAML: not ???, and not an interpolation (${seed} wires keys together, it is no default)."""
    return not OmegaConf.is_missing(node, key) and not OmegaConf.is_interpolation(node, key)


def targets_in(node, path: str = ""):
    """(dotted path, config) for `node` and every config with a `_target_` nested in it (data.corpus, a mixture's corpora)."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node.keys():
            if key not in _HYDRA_KEYS and is_set(node, key):
                yield from targets_in(node[key], f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from targets_in(item, f"{path}[{i}]")


@dataclasses.dataclass(frozen=True)
class Restated:
    where: str  # group/choice
    key: str  # dotted, under the group
    target: str
    value: object
    default: object


def restated(group: str, choice: str, overrides: tuple[str, ...] = ()) -> list[Restated]:
    """Every key of `group=choice` (nested configs included) that writes a value its target has a default for."""
    # without the experiment preset: the group's own YAML, as a user who picks the choice gets it
    cfg = compose_config([f"{group}={choice}", "~experiment", "output_dir=x", *overrides])
    rows = []
    for path, node in targets_in(cfg[group]):
        defaults = target_defaults(hydra.utils.get_object(node._target_))
        for key in node.keys():
            if key in _HYDRA_KEYS or key not in defaults or not is_set(node, key):
                continue
            if not (isinstance(node[key], DictConfig) and "_target_" in node[key]):  # a nested config is checked on its own
                dotted = f"{path}.{key}" if path else str(key)
                rows.append(Restated(f"{group}/{choice}", dotted, node._target_, plain(node[key]), plain(defaults[key])))
    return rows


def unexplained(rows: list[Restated]) -> list[Restated]:
    return [r for r in rows if r.value != r.default and (r.where, r.key) not in DIFFERENT_ON_PURPOSE]


def report(rows: list[Restated]) -> str:
    return "\n".join(f"  {r.where} {r.key}: {r.value!r}, but {r.target} defaults to {r.default!r}" for r in rows)


@functools.cache
def every_choice() -> tuple[Restated, ...]:
    return tuple(row for group in GROUPS for choice in choices(group) for row in restated(group, choice))


def test_every_restated_default_equals_its_targets_or_differs_on_purpose():
    wrong = unexplained(every_choice())
    assert not wrong, "YAML values that restate a default differently (make them equal, or list a shared target's difference):\n" + (
        report(wrong)
    )


def test_the_differences_listed_are_real_and_between_choices_of_one_target():
    different = {(r.where, r.key): r.target for r in every_choice() if r.value != r.default}
    stale = sorted(set(DIFFERENT_ON_PURPOSE) - set(different))
    assert not stale, f"listed as different on purpose, but equal to the default (remove them): {stale}"
    # a target configured in one place only has one default: the signature's, equal to its YAML
    places = {(r.where, r.key.rpartition(".")[0], r.target) for r in every_choice()}  # (choice, where in it, target)
    uses = Counter(target for _, _, target in places)
    alone = sorted(k for k, target in different.items() if uses[target] < 2)
    assert not alone, f"differences in a target only one place configures (change the default instead): {alone}"


def test_the_check_sees_the_keys_it_is_about():
    """The walk reaches settings schemas, partial builders and nested corpus configs (else it would pass vacuously)."""
    seen = {(r.where, r.key) for r in every_choice()}
    for expected in [
        ("optimizer/adamw", "betas"),
        ("scheduler/cosine_warmup", "warmup_steps"),
        ("data/arithmetic", "batch_size"),
        ("data/cervantes", "corpus.val_fraction"),
        ("data/mixture", "corpus.corpora.tinystories.path"),
        ("trainer/default", "max_steps"),
        ("hardware/auto", "precision"),
        ("tracking/mlflow", "flush_timeout"),
        ("model/gpt2", "d_model"),
    ]:
        assert expected in seen, expected


@pytest.mark.parametrize(
    "group, choice, override",
    [  # the three disagreements this test found, as the YAML held them against today's signatures
        ("optimizer", "adamw", "optimizer.betas=[0.9,0.95]"),
        ("scheduler", "cosine_warmup", "scheduler.warmup_steps=100"),
        ("data", "arithmetic", "data.batch_size=512"),
        ("data", "mixture", "+data.corpus.corpora.cervantes.val_fraction=0.1"),  # nested: a corpus inside a mixture
        ("trainer", "default", "trainer.eval_every=100"),  # a settings schema's field default
    ],
)
def test_a_value_unlike_its_default_is_reported(group, choice, override):
    key = override.split("=")[0].removeprefix(f"+{group}.").removeprefix(f"{group}.")
    wrong = unexplained(restated(group, choice, (override,)))
    assert [(r.where, r.key) for r in wrong] == [(f"{group}/{choice}", key)]
