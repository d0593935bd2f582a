import pandas as pd
import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.mlflow_tracker import DEFAULT_URI, MlflowTracker, flatten
from mlm_lab.tracking.pyfunc_model import prompts_from_input


def test_flatten_uses_dotted_keys_for_every_leaf():
    flat = flatten({"model": {"d_model": 128, "betas": [0.9, 0.98]}, "seed": 0, "empty": {}, "x": None})
    assert flat == {"model.d_model": "128", "model.betas": "[0.9, 0.98]", "seed": "0", "empty": "{}", "x": "None"}


def test_long_param_values_are_cut_to_mlflows_limit():
    assert len(flatten({"a": "x" * 10000})["a"]) == 6000


def test_prompts_from_every_input_shape():
    assert prompts_from_input(["1+2=", "3+4="]) == ["1+2=", "3+4="]
    assert prompts_from_input("1+2=") == ["1+2="]
    assert prompts_from_input({"prompt": ["1+2="]}) == ["1+2="]
    assert prompts_from_input(pd.DataFrame({"prompt": ["1+2="], "other": [1]})) == ["1+2="]
    assert prompts_from_input(pd.DataFrame({0: ["1+2="]})) == ["1+2="]
    with pytest.raises(ValueError, match="'prompt'"):
        prompts_from_input(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with pytest.raises(ValueError, match="prompt"):
        prompts_from_input({"text": ["x"]})


def test_uri_resolution_order(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowTracker().resolved_uri == DEFAULT_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert MlflowTracker().resolved_uri == "sqlite:///env.db"
    assert MlflowTracker(uri="http://127.0.0.1:5000").resolved_uri == "http://127.0.0.1:5000"


def test_empty_names_are_refused():
    with pytest.raises(ConfigError, match="tracking.experiment"):
        MlflowTracker(experiment="")
    with pytest.raises(ConfigError, match="tracking.register_as"):
        MlflowTracker(register_as="")
