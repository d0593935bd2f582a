"""The registered MLflow model: a PythonModel that rebuilds the predictor from its artifacts.

Logged "from code" (`pyfunc_entry.py`), so nothing is pickled: the weights, tokenizer and configs
travel as plain files under the `model_dir` artifact.

Bad input (a prompt that is not a string, an out-of-range parameter) is an `InvalidInput`: a
ValueError for Python callers and an MlflowException with INVALID_PARAMETER_VALUE, which
`mlflow models serve` answers with HTTP 400 and the message, instead of a 500 whose message is
only "unexpected error".
"""

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlm_lab.generation import short_repr

GENERATION_PARAMS = ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "num_samples", "stop")
PARAMS = (*GENERATION_PARAMS, "mode", "stride")  # the params of the logged signature
SCORE_COLUMNS = ["loss", "perplexity", "bits_per_byte", "tokens", "bytes"]
SEND = "Fix: send a prompt string, a list of prompt strings, {'prompt': [...]} or a DataFrame with a 'prompt' column"


class InvalidInput(MlflowException, ValueError):
    """The request's input or params are wrong; the message names what and how to fix it."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def prompts_from_input(model_input) -> list[str]:
    """Accept a list of prompts, one prompt, a dict with `prompt`, or a DataFrame with a `prompt` column."""
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, dict):
        if "prompt" not in model_input:
            raise ValueError(f"input dict has keys {sorted(map(str, model_input))}, no 'prompt'. Fix: send {{'prompt': [...]}}")
        return _prompts(model_input["prompt"], "input['prompt']")
    columns = getattr(model_input, "columns", None)
    if columns is not None:
        if "prompt" in columns:
            return _prompts(model_input["prompt"].tolist(), "input column 'prompt'", cells=True)
        if len(columns) == 1:
            return _prompts(model_input.iloc[:, 0].tolist(), f"input column {columns[0]}", cells=True)
        raise ValueError(f"input DataFrame has columns {list(columns)}, no 'prompt'. Fix: send one column named 'prompt'")
    return _prompts(model_input, "input")


def _prompts(values, where: str, cells: bool = False) -> list[str]:
    """Strings from a list-like input; with `cells`, a cell may hold a list of them.

    MLflow turns {"prompt": ["a", "b"]} into a one-row DataFrame whose cell is the list.
    """
    if isinstance(values, tuple):
        values = list(values)
    elif hasattr(values, "tolist"):  # numpy arrays, pandas Series
        values = values.tolist()
    if isinstance(values, str):
        return [values]
    if not isinstance(values, list):
        raise TypeError(f"{where} is {type(values).__name__} {short_repr(values)}, not prompts. {SEND}")
    prompts = []
    for i, value in enumerate(values):
        if cells and isinstance(value, (list, tuple, np.ndarray)):
            prompts += _prompts(value, f"{where}[{i}]")
        elif isinstance(value, str):
            prompts.append(value)
        elif value is None or (isinstance(value, float) and value != value):
            raise TypeError(f"{where}[{i}] is missing ({value!r}), not a prompt string. {SEND}")
        elif isinstance(value, (bytes, bytearray)):
            raise TypeError(f"{where}[{i}] is bytes ({short_repr(value)}), not a string. Fix: send text, e.g. value.decode('utf-8')")
        else:
            raise TypeError(f"{where}[{i}] is {type(value).__name__} {short_repr(value)}, not a string. {SEND}")
    return prompts


def params_from_request(params) -> dict:
    """The request's params without unset ones (None, []), numpy scalars made Python values; unknown names refused."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError(f"params is {type(params).__name__} {short_repr(params)}, not a dict. Fix: send e.g. {{'max_new_tokens': 8}}")
    unknown = sorted(str(k) for k in params if k not in PARAMS)
    if unknown:
        raise ValueError(f"params: unknown {unknown}. Fix: use only {list(PARAMS)}")
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        if value is None or (isinstance(value, list) and not value):
            continue
        out[key] = value
    return out


class LanguageModelPyfunc(mlflow.pyfunc.PythonModel):
    """`predict(["12+34="]) -> ["46"]`; generation parameters pass through `params`.

    `params={"mode": "score"}` scores each input text instead: a DataFrame with one row per text and
    columns loss, perplexity, bits_per_byte, tokens, bytes (optional `stride`, see evaluation/scoring.py).
    Prompts longer than the model's context keep their last `context_length` tokens.
    """

    def load_context(self, context):
        from mlm_lab.model_dir import load_model_dir

        self.model_dir = context.artifacts["model_dir"]
        self.predictor, self.config = load_model_dir(self.model_dir)

    # The type hint answers MLflow's "Add type hints to the `predict` method" warning: a DataFrame is what MLflow
    # passes once the signature's `prompt` column is checked, and a hint it infers no schema from (the signature says it)
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        try:
            return self._predict(model_input, params)
        except MlflowException:
            raise
        # Python's errors for a bad argument: ours (ConfigError is a ValueError), the task's prompt format's
        # and the tokenizer's all name the input and the fix. Anything else is a bug and stays a server error.
        except (ValueError, TypeError) as e:
            raise InvalidInput(str(e)) from e

    def _predict(self, model_input, params):
        params = params_from_request(params)
        mode = params.pop("mode", "generate")
        stride = params.pop("stride", None)
        prompts = prompts_from_input(model_input)
        if mode == "score":
            rows = []
            for i, text in enumerate(prompts):
                if not text:
                    raise ValueError(f"input[{i}] is empty: mode=score has nothing to score. Fix: send non-empty texts")
                rows.append(self.predictor.score([text], stride=stride))
            return pd.DataFrame(rows, columns=SCORE_COLUMNS)
        if mode != "generate":
            raise ValueError(f"params.mode is {short_repr(mode)}. Fix: use 'generate' (the default) or 'score'")
        return self.predictor.complete(prompts, **{k: params[k] for k in GENERATION_PARAMS if k in params})
