import re
import subprocess
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from mlm_lab.apps.common import closest_keys, quote_prompt_args, unknown_override
from mlm_lab.errors import ConfigError
from mlm_lab.schemas import conf_dir
from tests.conftest import run_cli, sqlite_uri


@pytest.mark.parametrize("prompt", ["12+34=", "9*9=", "it's = fine", "back\\slash", "ends\\", "quote\\'d", "Once upon a time"])
def test_prompts_reach_hydra_verbatim(prompt):
    (arg,) = quote_prompt_args([f"prompt={prompt}"])
    assert OverridesParser.create().parse_override(arg).value() == prompt


def test_other_arguments_and_lists_are_left_alone():
    args = ["model=models:/a/latest", 'prompt=["1+2=","3+4="]', "prompt='1+2='", "temperature=0.5"]
    assert quote_prompt_args(args) == args
    assert OverridesParser.create().parse_override(args[1]).value() == ["1+2=", "3+4="]


def test_plain_hydra_would_refuse_the_unquoted_prompt():
    with pytest.raises(Exception, match="extraneous input"):
        OverridesParser.create().parse_override("prompt=12+34=")


@pytest.mark.parametrize(
    "args, fix",
    [
        (["experiment=cervantes", "data.path=book.txt"], "set data.corpus.path=book.txt"),
        (["model.d_modle=64"], "set model.d_model=64"),
        (["-m", "trainer.max_stpes=3,4"], "set trainer.max_steps=3,4"),  # a sweep: checked before its first job
    ],
)
def test_an_unknown_key_names_the_closest_key_and_exits_2_before_any_work(args, fix, tmp_path):
    result = run_cli(["mlm_lab.apps.train", *args], cwd=tmp_path, tracking_uri=sqlite_uri(tmp_path))
    assert result.returncode == 2, result.stderr
    key = next(a for a in args if "=" in a and not a.startswith("experiment")).split("=")[0]
    assert f"{key}: is not a key of the config" in result.stderr and f"Fix: {fix}" in result.stderr
    assert "not in struct" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no outputs/ or multirun/ folder, no tracking store


def test_closest_keys_prefer_the_same_name_then_the_spelling():
    keys = ["data.batch_size", "data.corpus", "data.corpus.path", "data.corpus.val_path", "data.seed"]
    assert closest_keys("data.path", keys)[0] == "data.corpus.path"
    assert closest_keys("data.batch_sise", keys) == ["data.batch_size"]
    assert closest_keys("data.zzz", keys) == []


def test_keys_the_config_has_and_choices_of_groups_pass(tmp_path):
    # a choice, a key, a key added with + and then set, a hydra setting: nothing to report
    argv = ["data=text", "data.corpus.path=x.txt", "+data.n_test=5", "data.n_test=6", "hydra.run.dir=x", "tracking=none"]
    unknown_override(conf_dir(), "config", argv)
    with pytest.raises(ConfigError, match=r"^data\.corpus\.paht: is not a key of the config \(composed from data=text\)"):
        unknown_override(conf_dir(), "config", [*argv, "data.corpus.paht=y"])


def test_a_wrong_type_is_still_hydras_to_report_at_composition(tmp_path):
    result = run_cli(["mlm_lab.apps.train", "trainer.max_steps=abc"], cwd=tmp_path, tracking_uri=sqlite_uri(tmp_path))
    assert result.returncode == 1 and "trainer.max_steps" in result.stderr and "is not a key" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "app, argv, fix",
    [
        ("eval", ["model=models:/x/latest", "data.pth=book.txt"], "set data.path=book.txt"),
        ("generate", ["model=models:/x/latest", "prompt=hi", "temprature=0.5"], "set temperature=0.5"),
        ("compare", ["experiment=arithmetic", "max_run=5"], "set max_runs=5"),
    ],
)
def test_the_other_apps_configs_get_the_closest_key_too(app, argv, fix):
    unknown_override(conf_dir() / "apps", app, [*argv[:-1], "+data.n_test=5"] if app == "eval" else argv[:-1])  # valid: nothing
    with pytest.raises(ConfigError, match=re.escape(f"Fix: {fix}")):
        unknown_override(conf_dir() / "apps", app, argv)


@pytest.mark.slow  # a CLI process per case: the fast tier keeps the in-process checks
@pytest.mark.parametrize(
    ("app", "args", "named"),
    [
        ("generate", ["model=models:/x/latest", "prompt=1+2=", "max_new_tokenz=3"], "max_new_tokens"),
        ("eval", ["model=models:/x/latest", "data.pth=f.txt"], "data.path"),
        ("compare", ["experiment=arithmetic", "output_dirr=out"], "output_dir"),
        ("upload", ["journal=j.jsonl", "tracking_urii=sqlite:///x.db"], "tracking_uri"),
    ],
)
def test_every_app_names_the_closest_key_and_exits_2_before_hydra_runs(tmp_path, app, args, named):
    result = subprocess.run([sys.executable, "-m", f"mlm_lab.apps.{app}", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"set {named}=" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written: no outputs/, no store
