"""The registered model's `predict`: which inputs and params it takes, and that bad ones are a 400-style InvalidInput."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

from mlm_lab.tracking.pyfunc_model import PARAMS, SCORE_COLUMNS, InvalidInput, LanguageModelPyfunc, params_from_request, prompts_from_input
from mlm_lab.tracking.registry import SIGNATURE
from tests.tracking_fixtures import tiny_model_dir


@pytest.fixture(scope="module")
def pyfunc(tmp_path_factory):
    model = LanguageModelPyfunc()
    model.load_context(SimpleNamespace(artifacts={"model_dir": str(tiny_model_dir(tmp_path_factory.mktemp("model")))}))
    return model


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


def test_a_cell_may_hold_a_list_of_prompts_and_arrays_are_lists():
    """MLflow turns {"prompt": ["a", "b"]} into a one-row DataFrame whose cell is the list."""
    assert prompts_from_input(pd.DataFrame({"prompt": [["1+2=", "3+4="]]})) == ["1+2=", "3+4="]
    assert prompts_from_input(np.array(["1+2=", "5+6="])) == ["1+2=", "5+6="]
    assert prompts_from_input(("1+2=",)) == ["1+2="]


@pytest.mark.parametrize(
    "bad, message",
    [
        ([None], r"input\[0\] is missing"),
        ([float("nan")], r"input\[0\] is missing"),
        ([b"1+2="], r"input\[0\] is bytes.*decode"),
        (["ok", 3], r"input\[1\] is int 3, not a string"),
        (5, "input is int 5, not prompts"),
        ({"prompt": 5}, r"input\['prompt'\] is int"),
    ],
)
def test_what_is_not_a_prompt_is_named_with_the_fix(bad, message):
    with pytest.raises(TypeError, match=message):
        prompts_from_input(bad)


def test_params_drop_unset_values_and_refuse_unknown_names():
    assert params_from_request(None) == {}
    assert params_from_request({"max_new_tokens": np.int64(4), "stop": [], "top_k": None, "seed": np.array([1])}) == {
        "max_new_tokens": 4,
        "seed": [1],
    }
    assert type(params_from_request({"temperature": np.float32(0.5)})["temperature"]) is float
    with pytest.raises(ValueError, match=r"unknown \['beam'\]"):
        params_from_request({"beam": 2})
    with pytest.raises(TypeError, match="params is list"):
        params_from_request([1])


def test_the_logged_signature_has_exactly_the_params_predict_takes():
    assert tuple(p.name for p in SIGNATURE.params.params) == PARAMS


def test_predict_generates_one_completion_per_prompt_and_scores_in_score_mode(pyfunc):
    out = pyfunc.predict(None, ["1+2=", "3+4="], params={"max_new_tokens": 2, "seed": 0})
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    assert len(pyfunc.predict(None, "1+2=", params={"num_samples": 3, "seed": 0})) == 3
    scores = pyfunc.predict(None, ["1+2=3", "12+3=15"], params={"mode": "score"})
    assert list(scores.columns) == SCORE_COLUMNS and len(scores) == 2 and (scores["loss"] > 0).all()
    assert pyfunc.config == {"name": "tiny"}


@pytest.mark.parametrize(
    "model_input, params, message",
    [
        ([1], None, r"input\[0\] is int"),
        (["1+2="], {"mode": "beam"}, "params.mode is 'beam'"),
        ([""], {"mode": "score"}, r"input\[0\] is empty"),
        (["1+2="], {"nope": 1}, "unknown"),
        (["1+2="], {"max_new_tokens": -1}, "max_new_tokens"),
    ],
)
def test_bad_requests_are_invalid_input_for_a_400(pyfunc, model_input, params, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        pyfunc.predict(None, model_input, params=params)
    assert isinstance(caught.value, ValueError)
    assert caught.value.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE)
