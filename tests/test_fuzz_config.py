"""Fuzzing the config surface: any override of any group's key either runs or fails with a clear error before training.

Every choice of every config group is composed, and every (nested) key of it is a target. An example sets one to
three of them to values from a broad strategy (zero, negative and huge ints; nan, inf and tiny floats; booleans,
null, text, lists, dicts; deleted and added keys) or is a random override string, then runs what `mlm-train` runs,
tiny and offline. Hydra's own parse, composition and validation errors are clear errors at parse time; after
composition the run must finish, or raise `ConfigError` before its first training step. Anything else (a
RuntimeError from torch, a TypeError, a KeyError) fails the test with the overrides that caused it.

The default run is derandomized, so CI sees the same examples every time. A longer random fuzz:
    MLM_LAB_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_config.py -n0 -q    # or: nox -s fuzz
"""

import collections
import contextlib
import functools
import logging
import math
import os
import re
import resource
import signal
import traceback
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlm_lab.errors import ConfigError
from mlm_lab.runner import train
from mlm_lab.schemas import conf_dir
from mlm_lab.training.trainer import NonFiniteLossError
from tests.conftest import data_file

GROUPS = ["tokenizer", "model", "data", "optimizer", "scheduler", "hardware", "trainer", "tracking", "experiment"]
EXAMPLES = int(os.environ.get("MLM_LAB_FUZZ_EXAMPLES", "0"))
SECONDS_PER_EXAMPLE = 20  # tiny runs take a second or two; one still going after this long is looked at
MEMORY_HEADROOM = 6 << 30  # bytes of address space an example may add: a runaway allocation fails instead of the machine

# A tiny offline run: a 1-layer model on 16 tokens, 2 steps, untracked; arithmetic up to 99.
TINY = [
    "model.context_length=16",
    "model.d_model=16",
    "model.n_layers=1",
    "model.n_heads=2",
    "data.batch_size=32",
    "trainer.max_steps=2",
    "trainer.eval_every=2",
    "trainer.log_every=1",
    "hardware=cpu",
    "hardware.threads=1",
    "tracking=none",
]
TINY_ARITHMETIC = ["data.high=99", "data.n_train=200", "data.n_val=20", "data.n_test=20"]


def choices(group: str) -> list[str]:
    """The options of a config group: its YAML files in conf/."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def leaves(node, prefix: str) -> dict[str, object]:
    """{dotted key: value} for every leaf under `node` (a dict); lists are leaves."""
    out = {}
    for key, value in node.items():
        if key == "defaults":
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(leaves(value, name))
        else:
            out[name] = value
    return out


def compose_in(overrides: list[str], return_hydra_config: bool = False):
    """The train config composed from conf/ with `overrides`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=return_hydra_config)


def group_choices(overrides: list[str]) -> dict[str, str]:
    """The choice of every group that `overrides` compose to."""
    return dict(compose_in([*overrides, "output_dir=x"], return_hydra_config=True).hydra.runtime.choices)


def key_space() -> list[tuple[str, str, str, object]]:
    """(group, choice, key, composed value) for every key of every choice of every group."""
    space = []
    for group in GROUPS:
        for choice in choices(group):
            if group == "experiment":  # a global overlay: its keys are the ones its file sets
                text = yaml.safe_load((conf_dir() / group / f"{choice}.yaml").read_text())
                found = leaves(text, "")
            else:
                cfg = compose_in([f"{group}={choice}", "output_dir=x"])
                found = leaves(OmegaConf.to_container(cfg[group]), group)
            space += [(group, choice, key, value) for key, value in sorted(found.items())]
    return space


KEYS = key_space()


# -- values --------------------------------------------------------------------------------------------------------

SPECIAL_INTS = [0, 1, -1, 2, 3, 4, 7, 16, 255, 4096, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 10**30]
SPECIAL_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.5, 1e-300, 5e-324, 1e300, math.nan, math.inf, -math.inf, 1e-3, 0.999999]
SPECIAL_TEXT = ["", " ", "auto", "cpu", "cuda", "mps", "fp16", "bf16", "min", "max", "val/loss", "+-*/", "/", ".", "..", "~",
                "/nonexistent/file.txt", "models:/x/latest", "sqlite:///", "http://127.0.0.1:9/", "<|endoftext|>", "\n", "é∑😀",
                "mlm_lab.models.builders.gpt2", "torch.nn.Linear", "None", "null", "1e-3", "3", "true"]  # fmt: skip

ints = st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-(10**6), 10**6))
floats = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
texts = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=12))
scalars = st.one_of(ints, floats, st.booleans(), st.none(), texts)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), scalars, max_size=2),
)


def near(value) -> st.SearchStrategy:
    """Values of the same kind as the composed `value`: these pass the type checks and reach deeper code."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from([value - 1, value + 1, 2 * value, -value, value // 2, value * 1000, 0, 1])
    if isinstance(value, float):
        return st.sampled_from([value / 10, 10 * value, -value, 0.0, 1.0, value + 1e-12])
    if isinstance(value, str):
        return st.sampled_from([value + "x", value[:-1], value.upper(), value * 2, ""])
    if isinstance(value, list):
        return st.lists(st.sampled_from(value) if value else scalars, max_size=4)
    return values


def hydra_value(value) -> str:
    """`value` written in Hydra's override grammar (strings quoted, so any text survives the parser)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    # inside quotes only a quote, and backslashes before a quote or at the end, need escaping (as mlm_lab.apps.common does)
    escaped = re.sub(r"(\\*)'", lambda q: q.group(1) * 2 + "\\'", value)
    return "'" + re.sub(r"(\\+)$", lambda q: q.group(1) * 2, escaped) + "'"


@st.composite
def override(draw, group: str, key: str, current) -> str:
    """One override of `key`: a new value (mostly), a deletion, or an added key beside it."""
    form = draw(st.sampled_from(["set"] * 8 + ["delete", "add"]))
    if form == "delete":
        return f"~{key}"
    if form == "add":
        return f"+{key.rpartition('.')[0] or group}.{draw(st.from_regex(r'[a-z_]{1,8}', fullmatch=True))}={hydra_value(draw(scalars))}"
    kind = draw(st.sampled_from(["broad", "near", "near"]) if current is not None else st.just("broad"))
    value = draw(values if kind == "broad" else near(current))
    return f"{key}={hydra_value(value)}"


OVERRIDE_ALPHABET = "abcdefghijklmnopqrstuvwxyz_.=+~[]{},:'\"$\\ 0123456789-/*()@%"


def raw(key: str) -> st.SearchStrategy:
    """Override strings that Hydra's parser may or may not take: anything, or anything after `key=`."""
    return st.one_of(st.text(OVERRIDE_ALPHABET, max_size=30), st.text(max_size=30).map(f"{key}={{}}".format))


@st.composite
def examples(draw) -> tuple[str, str, list[str]]:
    """(group, choice, overrides): one to three overrides of keys of `group=choice`, sometimes raw strings."""
    group, choice, _, _ = draw(st.sampled_from(KEYS))
    own = [(k, v) for g, c, k, v in KEYS if (g, c) == (group, choice)]
    overrides = []
    for _ in range(draw(st.integers(1, 3))):
        key, current = draw(st.sampled_from(own))
        if draw(st.integers(0, 9)) == 0:  # Hydra's parser on anything
            overrides.append(draw(raw(key)))
        else:
            overrides.append(draw(override(group, key, current)))
    return group, choice, overrides


# -- runs ----------------------------------------------------------------------------------------------------------


def small_corpora(directory: Path) -> dict[str, str]:
    """Small copies of the test excerpts (tests/data) in `directory`, so text runs read and tokenise at most 100 kB."""
    stories = Path(data_file("tinystories/valid.txt")).read_text().split("<|endoftext|>\n")
    quijote = Path(data_file("cervantes/quijote.txt")).read_text()
    files = {
        "train.txt": "<|endoftext|>\n".join(stories[:200]),
        "valid.txt": "<|endoftext|>\n".join(stories[200:205]),
        "quijote.txt": quijote[:100_000]
        + "\n\n"
        + quijote[quijote.index("*** END OF THE PROJECT GUTENBERG") :],  # the first chapters and the licence
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    return {name.removesuffix(".txt"): str(directory / name) for name in files}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, str]:
    """{train, valid, quijote}: paths of the small corpora, shared by every example."""
    return small_corpora(tmp_path_factory.mktemp("corpora"))


def base_overrides(group: str, choice: str, corpora: dict[str, str], workdir: Path) -> list[str]:
    """What makes `group=choice` a tiny offline run in `workdir`; the cache and the tracking store sit beside it, shared."""
    paths = [f"output_dir={workdir / 'out'}", f"cache_dir={workdir.parent / 'cache'}"]
    if (group, choice) == ("tracking", "mlflow"):
        paths.append(f"tracking.uri=sqlite:///{workdir.parent / 'mlflow.db'}")
    return [*paths, *(o.format(**corpora) for o in shrunk(group, choice))]


@functools.cache
def shrunk(group: str, choice: str) -> tuple[str, ...]:
    """Overrides that make `group=choice` tiny: TINY, a small vocabulary for trained tokenizers, `{train}`-style corpora."""
    overrides = [*TINY, f"{group}={choice}"]  # the later choice of a group wins
    if (group, choice) == ("tracking", "mlflow"):
        overrides.append("tracking.register_as=null")
    if group == "tokenizer" and choice != "char":
        overrides.append("data=text")  # trainable tokenizers learn from text
    chosen = group_choices(overrides)
    data, tokenizer = chosen["data"], chosen["tokenizer"]
    if data == "arithmetic":
        return (*overrides, *TINY_ARITHMETIC)
    if tokenizer == "char":
        tokenizer = "char_corpus"
        overrides.append("tokenizer=char_corpus")
    if "vocab_size" in compose_in([f"tokenizer={tokenizer}", "output_dir=x"]).tokenizer:
        overrides.append("tokenizer.vocab_size=300" if tokenizer == "word" else "tokenizer.vocab_size=400")
    stories = ["data.corpus.path={train}", "data.corpus.val_path={valid}"]
    overrides += {
        "cervantes": ["data.corpus.path={quijote}"],
        "tinystories": stories,
        "tinystories_parquet": stories,
        "text": ["data.corpus.path={train}", "data.corpus.separator='<|endoftext|>'"],
        "mixture": [
            "data.corpus.corpora.tinystories.path={train}",
            "data.corpus.corpora.tinystories.val_path={valid}",
            "data.corpus.corpora.cervantes.path={quijote}",
        ],
    }[data]
    return (*overrides, "data.max_new_tokens=4")


class TooSlow(BaseException):
    """Raised by the watchdog (a BaseException, so that no `except Exception` on the way eats it)."""


class Watchdog:
    """Raises TooSlow in the main thread after `seconds`, and again every second until disarmed: code that
    swallows one exception (a gc callback, a cleanup handler) cannot end the watch."""

    def __init__(self, seconds: float):
        self.seconds, self.armed = seconds, False

    def _fire(self, signum, frame):
        if self.armed:
            raise TooSlow(f"still running after {self.seconds} s")

    def __enter__(self) -> "Watchdog":
        self.armed, self.previous = True, signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 1.0)
        return self

    def __exit__(self, *exc) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


@contextlib.contextmanager
def process_state():
    """An address-space cap for runaway allocations (the product sees it as the machine's memory), torch's threads restored."""
    threads = torch.get_num_threads()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()  # Linux, like CI
    cap = used + MEMORY_HEADROOM if hard == resource.RLIM_INFINITY else min(used + MEMORY_HEADROOM, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        torch.set_num_threads(threads)


class Records(logging.Handler):
    """The INFO records of `mlm_lab` loggers while it is attached."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger("mlm_lab")

    def emit(self, record):
        self.records.append(record)

    def __enter__(self) -> "Records":
        self.level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)

    @property
    def training_started(self) -> bool:
        """Whether the trainer's loop began: its first message is the effective batch size."""
        return any(r.name == "mlm_lab.training" and r.getMessage().startswith("effective batch") for r in self.records)


def run_example(overrides: list[str], base: list[str], output_dir: Path) -> str:
    """Compose and train; returns the outcome, or fails the test on any error that is not a clear config error."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        try:
            cfg = compose(config_name="config", overrides=[*base, *overrides])
            OmegaConf.to_container(cfg, resolve=True)
        except (HydraException, OmegaConfBaseException):
            return "refused by hydra"
        if OmegaConf.select(cfg, "hardware.compile") is True:
            return "not run"  # valid, and tested in tests/test_runner.py, but compiling takes a minute
        with Records() as log, process_state(), Watchdog(SECONDS_PER_EXAMPLE) as watchdog:
            try:
                train(cfg, overrides=overrides)
            except ConfigError as e:
                assert "Fix:" in str(e), f"{overrides}: ConfigError without a fix: {e}"
                assert not log.training_started, f"{overrides}: ConfigError after training began: {e}"
                written = sorted(output_dir.glob("checkpoints/*.pt"))
                assert not written, f"{overrides}: ConfigError after checkpoints were written ({written}): {e}"
                return "refused"
            except NonFiniteLossError:
                return "diverged"  # valid values that train to nan (optimizer.lr=1e15): the CLI's own clear error
            except TooSlow:
                watchdog.armed = False
                if log.training_started:
                    return "slow"  # valid values that train for long (trainer.max_steps=10000): the config passed every check
                pytest.fail(f"overrides {overrides} were still setting up the run after {SECONDS_PER_EXAMPLE} s")
            except Exception as e:
                pytest.fail(f"overrides {overrides} raised {type(e).__name__}, not ConfigError:\n{traceback.format_exc()}")
        return "ran"


FUZZ = settings(
    max_examples=EXAMPLES or 60,  # the default run keeps the suite in its budget; nox -s fuzz runs long random ones
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def test_every_key_of_every_choice_is_a_target():
    targets = {(g, c, k) for g, c, k, _ in KEYS}
    assert {g for g, _, _ in targets} == set(GROUPS)
    assert {(g, c) for g, c, _ in targets} == {(g, c) for g in GROUPS for c in choices(g)}
    for nested in [("model", "mixtral", "model.n_experts"), ("data", "mixture", "data.corpus.corpora.cervantes.path"),
                   ("experiment", "cervantes", "tokenizer.vocab_size"), ("optimizer", "adamw", "optimizer._target_")]:  # fmt: skip
        assert nested in targets, nested


@pytest.mark.slow
def test_any_override_runs_or_fails_with_a_clear_error(corpora, tmp_path_factory, monkeypatch):
    outcomes: collections.Counter[str] = collections.Counter()

    @FUZZ
    @given(example=examples())
    def fuzz(example):
        group, choice, overrides = example
        workdir = tmp_path_factory.mktemp("run")
        monkeypatch.chdir(workdir)  # relative paths in drawn values land here
        outcomes[run_example(overrides, base_overrides(group, choice, corpora, workdir), workdir / "out")] += 1

    fuzz()
    print(dict(outcomes))
    # not vacuous: some examples trained to the end, and others were refused after composing
    assert outcomes["ran"] and outcomes["refused"], outcomes


@settings(max_examples=300, derandomize=True)
@given(value=values)
def test_drawn_values_are_written_in_hydra_grammar(value):
    """The harness itself: every drawn value reaches the config as itself, so an example tests what it says it does."""
    parsed = OverridesParser.create().parse_override(f"key={hydra_value(value)}").value()
    assert same(parsed, value), (value, hydra_value(value), parsed)


def same(a, b) -> bool:
    """Equality with nan equal to nan and a bool never equal to an int."""
    if isinstance(a, (list, dict)) and type(a) is type(b) and len(a) == len(b):
        pairs = zip(a.values(), b.values()) if isinstance(a, dict) else zip(a, b)
        return (not isinstance(a, dict) or list(a) == list(b)) and all(same(x, y) for x, y in pairs)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b
