"""`mlm-generate`: completions of a registered model printed with the separator; bad input exits 2 with the fix."""

import pytest

from mlm_lab.apps.generate import app as run
from mlm_lab.tracking.mlflow_tracker import load_registered
from tests.conftest import compose_config


def generate(uri: str, *overrides: str) -> list[str]:
    return run(compose_config(["model=models:/arithmetic/latest", f"tracking_uri={uri}", *overrides], "generate", "apps"))


def test_prints_one_completion_per_prompt_joined_by_the_separator(tiny_runs, capsys):
    _, uri = tiny_runs
    completions = generate(uri, 'prompt=["1+2=","30+40="]', "separator=|", "max_new_tokens=4")
    predictor, _ = load_registered("models:/arithmetic/latest", uri)
    assert completions == predictor.complete(["1+2=", "30+40="], max_new_tokens=4)
    assert capsys.readouterr().out.splitlines()[-1] == "|".join(completions)


def test_a_single_prompt_samples_and_the_cache_changes_nothing(tiny_runs, capsys):
    _, uri = tiny_runs
    assert len(generate(uri, "prompt='12+34='", "num_samples=3", "temperature=1.0", "seed=1")) == 3
    assert generate(uri, "prompt='12+34='", "use_cache=false") == generate(uri, "prompt='12+34='")


@pytest.mark.parametrize(
    "overrides, named",
    [(["prompt='1+2='", "max_new_tokens=0"], "max_new_tokens"), (["prompt='1+2='", "temperature=-1"], "temperature")],
)
def test_bad_input_exits_2_naming_it(tiny_runs, caplog, overrides, named):
    _, uri = tiny_runs
    with pytest.raises(SystemExit) as info:
        generate(uri, *overrides)
    assert info.value.code == 2 and named in caplog.text and "Fix:" in caplog.text


def test_a_model_the_store_lacks_exits_2_naming_it(tiny_runs, caplog):
    _, uri = tiny_runs
    with pytest.raises(SystemExit) as info:
        run(compose_config(["model=models:/nope/latest", f"tracking_uri={uri}", "prompt='1+2='"], "generate", "apps"))
    assert info.value.code == 2 and "models:/nope/latest" in caplog.text and "Fix:" in caplog.text
