"""The registered model from a real CLI training run: reloaded in fresh processes, served over HTTP."""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest

from tests.conftest import models_serve, run_cli

pytestmark = pytest.mark.slow  # trains a model to accuracy, then reloads and serves it

RELOAD = """
import json, mlflow, pandas as pd, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    m = mlflow.pyfunc.load_model("models:/small@champion")
def p(prompts, **params):
    return m.predict({"prompt": prompts}, params=params or None)
print(json.dumps({
    "warnings": [str(w.message) for w in caught if "type hint" in str(w.message)],
    "list": p(["12+34=", "5+7=", "99+99=", "0+8="]),
    "frame": m.predict(pd.DataFrame({"prompt": ["12+34="]})),
    "short": p(["12+34="], max_new_tokens=1),
    "top_k_1": p(["12+34=", "5+7="], temperature=1.5, top_k=1, seed=3),
    "top_p_0": p(["12+34=", "5+7="], temperature=1.5, top_p=1e-9),
    "hot": [p(["12+34="] * 64, temperature=50.0, seed=s) for s in (1, 1, 2)],
    "samples": p(["12+34=", "5+7="], num_samples=3),
    "stopped": p(["12+34=", "5+7="], stop=["6", "1"]),
}))
"""


def test_reloads_in_a_fresh_process_without_the_output_dir(trained, tmp_path):
    workdir, uri = trained
    run_dirs = list((workdir / "outputs").glob("*/*"))
    assert len(run_dirs) == 1  # Hydra's own outputs still land in its output dir
    assert {".hydra", "train.log", "checkpoints", "model"} <= {p.name for p in run_dirs[0].iterdir()}
    assert {"config.yaml", "overrides.yaml", "hydra.yaml"} <= {p.name for p in (run_dirs[0] / ".hydra").iterdir()}
    shutil.rmtree(workdir / "outputs")  # the registered model must not need Hydra's output dir
    env_result = subprocess.run(
        [sys.executable, "-c", RELOAD],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    assert env_result.returncode == 0, env_result.stderr[-3000:]
    out = json.loads(env_result.stdout.strip().splitlines()[-1])
    assert out["warnings"] == []  # MLflow's "Add type hints to the `predict` method" is answered
    assert out["list"] == ["46", "12", "198", "8"]
    assert out["frame"] == ["46"]
    assert out["short"] == ["6"]  # one token of the reversed answer "64": params reach generation
    assert out["top_k_1"] == out["top_p_0"] == ["46", "12"]  # sampling restricted to the top token is greedy
    same, again, other = out["hot"]
    assert same == again and same != other  # a seed makes hot sampling reproducible
    assert out["samples"] == ["46", "46", "46", "12", "12", "12"]  # num_samples, grouped by prompt
    assert out["stopped"] == ["4", ""]  # cut at the first stop string


def test_generate_cli(trained, tmp_path):
    _, uri = trained
    result = run_cli(["mlm_lab.apps.generate", "model=models:/small/latest", "prompt=12+34="], cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "46"
    two_prompts = ["mlm_lab.apps.generate", "model=models:/small/latest", 'prompt=["1+2=","30+40="]', "use_cache=false"]
    many = run_cli(two_prompts, cwd=tmp_path, tracking_uri=uri)
    assert many.stdout.strip().splitlines()[-2:] == ["3", "70"]
    two_samples = ["mlm_lab.apps.generate", "model=models:/small/latest", "prompt=8+8=", "num_samples=2", "separator=|"]
    sampled = run_cli(two_samples, cwd=tmp_path, tracking_uri=uri)
    assert sampled.stdout.strip().splitlines()[-1] == "16|16"
    assert not (tmp_path / "outputs").exists()


def test_eval_cli_reproduces_the_runs_test_metric(trained, tmp_path):
    _, uri = trained
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    run = client.get_run(client.search_model_versions("name='small'")[0].run_id)
    result = run_cli(["mlm_lab.apps.eval", "model=models:/small/latest"], cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout[result.stdout.index("{") :])
    assert metrics["test/exact_match"] == run.data.metrics["test/exact_match"] == 1.0


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def post_error(url: str, payload: dict) -> tuple[int, str]:
    """The HTTP status and body of a request the server refuses."""
    try:
        post(url, payload)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    return 200, ""


def test_mlflow_models_serve_answers_over_http(trained, tmp_path):
    _, uri = trained
    with models_serve("models:/small@champion", uri, tmp_path) as url:
        assert post(url, {"inputs": {"prompt": ["12+34=", "5+7="]}}) == {"predictions": ["46", "12"]}
        assert post(url, {"dataframe_records": [{"prompt": "12+34="}, {"prompt": "5+7="}]}) == {"predictions": ["46", "12"]}
        split = {"dataframe_split": {"columns": ["prompt"], "data": [["12+34="]]}}
        assert post(url, split) == {"predictions": ["46"]}
        assert post(url, {"inputs": {"prompt": ["12+34="]}, "params": {"max_new_tokens": 1}}) == {"predictions": ["6"]}
        assert post(url, {"inputs": ["12+34="]}) == {"predictions": ["46"]}  # the server maps a list onto the one column
        for bad in ({"inputs": 5}, {"inputs": {"prompt": [5]}}, {"dataframe_records": [{"text": "1+2="}]}, {"inputs": [5]}):
            code, body = post_error(url, bad)  # never turned into the text "5": refused, naming the input
            assert code == 400 and "prompt" in body, (bad, code, body)
        # under load: 50 requests from 4 threads at once, greedy and sampled batches, each answered like in-process predict
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(uri)
        try:
            model = mlflow.pyfunc.load_model("models:/small/latest")
        finally:
            mlflow.set_tracking_uri(previous)
        prompts = [f"{a}+{b}=" for a, b in zip(range(0, 100, 7), range(99, 0, -9))]
        requests = [
            {"inputs": {"prompt": prompts[i % 5 : i % 5 + 6]}, "params": {"temperature": 0.8, "seed": i}}
            if i % 2
            else {"inputs": {"prompt": prompts[i % 7 :]}}
            for i in range(50)
        ]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda r: post(url, r)["predictions"], requests))
        assert answers == [model.predict(r["inputs"], params=r.get("params")) for r in requests]  # the same dict form in Python
