"""The registered MLflow model: a PythonModel that rebuilds the predictor from its artifacts.

Logged "from code" (`pyfunc_entry.py`), so nothing is pickled: the weights, tokenizer and configs
travel as plain files under the `model_dir` artifact.
"""

import mlflow.pyfunc

GENERATION_PARAMS = {
    "max_new_tokens": int,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "seed": int,
    "num_samples": int,
    "stop": lambda v: v if isinstance(v, str) else [str(s) for s in v],
}


def prompts_from_input(model_input) -> list[str]:
    """Accept a list of prompts, one prompt, a dict with `prompt`, or a DataFrame with a `prompt` column."""
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, dict):
        if "prompt" not in model_input:
            raise ValueError(f"input dict has keys {sorted(model_input)}; send {{'prompt': [...]}}")
        model_input = model_input["prompt"]
        return [model_input] if isinstance(model_input, str) else [str(p) for p in model_input]
    columns = getattr(model_input, "columns", None)
    if columns is not None:
        if "prompt" in columns:
            return [str(p) for p in model_input["prompt"]]
        if len(columns) == 1:
            return [str(p) for p in model_input.iloc[:, 0]]
        raise ValueError(f"input DataFrame has columns {list(columns)}; send one column named 'prompt'")
    return [str(p) for p in model_input]


class LanguageModelPyfunc(mlflow.pyfunc.PythonModel):
    """`predict(["12+34="]) -> ["46"]`; generation parameters pass through `params`.

    `params={"mode": "score"}` scores each input text instead: a DataFrame with one row per text and
    columns loss, perplexity, bits_per_byte, tokens, bytes (optional `stride`, see evaluation/scoring.py).
    """

    def load_context(self, context):
        from mlm_lab.export import load_model_dir

        self.model_dir = context.artifacts["model_dir"]
        self.predictor, self.config = load_model_dir(self.model_dir)

    def predict(self, context, model_input, params=None):
        params = dict(params or {})
        mode = params.pop("mode", None) or "generate"
        stride = params.pop("stride", None)
        if mode == "score":
            import pandas as pd

            return pd.DataFrame([self.predictor.score([text], stride=stride) for text in prompts_from_input(model_input)])
        if mode != "generate":
            raise ValueError(f"params.mode is {mode!r}; use 'generate' (the default) or 'score'")
        params = {k: GENERATION_PARAMS[k](v) for k, v in (params or {}).items() if k in GENERATION_PARAMS and v is not None and v != []}
        return self.predictor.complete(prompts_from_input(model_input), **params)
