"""Every console script of pyproject.toml is an app that refuses bad input with exit 2 and no traceback.

A new app is covered by being listed in [project.scripts]: its Hydra body must be wrapped with
`exit_on_config_error` (the innermost decorator, so a ConfigError never reaches Hydra's traceback
printer), its `main` must check the overrides before Hydra runs, and the entry point itself (what the
console script calls) must refuse an unknown key and a required setting left out by name.
"""

import ast
import logging
import re
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mlm_lab.schemas import conf_dir
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml: script name -> `module:function`."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the section is flat `name = "module:function"` lines
        section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, re.MULTILINE))
    return tomllib.loads(text)["project"]["scripts"]


SCRIPTS = console_scripts()


def hydra_body(tree: ast.Module) -> ast.FunctionDef:
    """The module's one function decorated with `@hydra.main(...)`."""
    (body,) = [
        f for f in tree.body if isinstance(f, ast.FunctionDef) and any(ast.unparse(d).startswith("hydra.main(") for d in f.decorator_list)
    ]
    return body


def app_config(module: str) -> tuple[str, str]:
    """(subdir of conf/, config name) the app's `@hydra.main` composes."""
    call = hydra_body(ast.parse(module_path(module).read_text())).decorator_list[0]
    name = next(k.value.value for k in call.keywords if k.arg == "config_name")
    return ("apps" if (conf_dir() / "apps" / f"{name}.yaml").is_file() else ""), name


def module_path(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def required_keys(module: str) -> list[str]:
    """Top-level settings the app's own YAML leaves `???`: the input a user must give."""
    subdir, name = app_config(module)
    raw = OmegaConf.load(conf_dir() / subdir / f"{name}.yaml")
    return [k for k in raw.keys() if k not in ("defaults", "hydra") and OmegaConf.is_missing(raw, k)]


def test_the_scripts_are_read_from_pyproject():
    assert {"mlm-train", "mlm-generate", "mlm-eval", "mlm-compare", "mlm-upload"} <= set(SCRIPTS)


@pytest.mark.parametrize(("script", "target"), SCRIPTS.items(), ids=list(SCRIPTS))
def test_every_app_body_is_wrapped_to_exit_2_and_main_checks_overrides_first(script, target):
    module, function = target.split(":")
    assert module.startswith("mlm_lab.apps.") and function == "main", f"{script}: an app's entry point is mlm_lab.apps.NAME:main"
    tree = ast.parse(module_path(module).read_text())
    body = hydra_body(tree)
    decorators = [ast.unparse(d) for d in body.decorator_list]
    assert decorators[1:] == ["exit_on_config_error"], (
        f"{script}: {body.name} must be decorated @hydra.main(...) then @exit_on_config_error (innermost), got {decorators}"
    )
    (main,) = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "main"]
    calls = [ast.unparse(c.func) for c in ast.walk(main) if isinstance(c, ast.Call)]
    assert "check_overrides" in calls and body.name in calls, f"{script}: main() must call check_overrides(...) and then {body.name}()"
    assert calls.index("check_overrides") < calls.index(body.name)


@pytest.fixture
def entry_point(tmp_path, monkeypatch, capsys):
    """Call a console script's entry point in this process, as the script does (`sys.exit(main())`); returns (code, output)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # Hydra configures logging for the job; later tests get theirs back

    def call(target: str, args: list[str]) -> tuple[int, str]:
        module, function = target.split(":")
        monkeypatch.setattr(sys, "argv", [target, *args])
        main = getattr(__import__(module, fromlist=[function]), function)
        try:
            with pytest.raises(SystemExit) as info:
                main()
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        captured = capsys.readouterr()
        return info.value.code, captured.out + captured.err

    return call


@pytest.mark.parametrize(("script", "target"), SCRIPTS.items(), ids=list(SCRIPTS))
def test_every_app_refuses_an_unknown_key_by_name(entry_point, script, target):
    code, output = entry_point(target, ["zzz_no_such_key=1"])
    assert code == 2 and "zzz_no_such_key: is not a key of the config" in output and "Fix:" in output, output
    assert "Traceback" not in output


WITH_REQUIRED = {s: t for s, t in SCRIPTS.items() if required_keys(t.split(":")[0])}


def test_the_apps_with_required_settings_are_found():
    assert {"mlm-generate", "mlm-eval", "mlm-upload", "mlm-train"} <= set(WITH_REQUIRED)


@pytest.mark.parametrize(("script", "target"), WITH_REQUIRED.items(), ids=list(WITH_REQUIRED))
def test_every_app_refuses_its_required_settings_left_out_by_name(entry_point, caplog, script, target):
    module = target.split(":")[0]
    keys = required_keys(module)
    subdir, name = app_config(module)
    composed = compose_config([], name, subdir)
    # left out: not on the command line; a default that fills one (mlm-train's experiment preset sets `name`) is unset with KEY=???
    args = [f"{k}=???" for k in keys if not OmegaConf.is_missing(composed, k)]
    code, output = entry_point(target, args)
    output += caplog.text
    assert code == 2, output
    assert f"{', '.join(keys)}: {'is' if len(keys) == 1 else 'are'} required" in output and "Fix: add " in output, output
    assert "Traceback" not in output and "MissingMandatoryValue" not in output


def test_the_apps_find_the_configs_where_the_schemas_do_and_start_without_torch():
    """Refusing bad input takes seconds less when an app does not import torch (and mlflow) before it needs them."""
    import subprocess

    from mlm_lab.apps.common import conf_dir as apps_conf_dir

    assert apps_conf_dir is conf_dir  # one definition (mlm_lab/conf_path.py), not a copy that could drift
    light = [t.split(":")[0] for t in SCRIPTS.values() if t.split(":")[0] != "mlm_lab.apps.train"]
    check = f"import sys; import {', '.join(light)}; print(sorted({{'torch', 'mlflow'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr[-2000:]
