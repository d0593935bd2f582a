"""End-to-end arithmetic benchmark: `mlm-train experiment=arithmetic`, wall time and accuracy.

Targets (issue: foundation): start to registered model in <= 180 s on a 2-core CPU, and >= 99.5%
exact match on held-out 3-digit addition with plain prompts. Accuracy is read twice: the run's own
`test/exact_match`, and the registered model (reloaded through MLflow) on 10,000 fresh plain
prompts that appear in none of the run's splits.

    python bench/arithmetic_e2e.py --seeds 0 1 2
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def fresh_prompts(n: int, exclude: set[str], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: dict[str, str] = {}
    while len(out) < n:
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        prompt = f"{a}+{b}="
        if prompt not in exclude:
            out[prompt] = str(a + b)
    return list(out.items())


def run_once(seed: int, fresh: int) -> dict:
    import mlflow
    from mlflow import MlflowClient

    from mlm_lab.data.arithmetic import generate_splits

    workdir = Path(tempfile.mkdtemp(prefix="bench_arith_"))
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "mlm_lab.apps.train", "experiment=arithmetic"] + ([f"seed={seed}"] if seed else [])
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")

    client = MlflowClient(uri)
    version = client.search_model_versions("name='arithmetic'")[0]
    run = client.get_run(version.run_id)
    params = run.data.params
    splits = generate_splits(
        {"test": int(params["data.n_test"]), "val": int(params["data.n_val"]), "train": int(params["data.n_train"])},
        n_operands=int(params["data.n_operands"]),
        low=int(params["data.low"]),
        high=int(params["data.high"]),
        ops=params["data.ops"],
        seed=int(params["data.seed"]),
    )
    seen = {p.prompt for problems in splits.values() for p in problems}
    pairs = fresh_prompts(fresh, seen, seed=10_000 + seed)
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/arithmetic/latest")
    predictions = model.predict({"prompt": [p for p, _ in pairs]})
    fresh_acc = sum(pred == ans for pred, (_, ans) in zip(predictions, pairs)) / len(pairs)
    tps = [m.value for m in client.get_metric_history(run.info.run_id, "tokens_per_second")]
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "test_exact_match": run.data.metrics["test/exact_match"],
        "fresh_exact_match": fresh_acc,
        "tokens_per_second_median": sorted(tps)[len(tps) // 2],
        "run_id": run.info.run_id,
        "command": " ".join(["mlm-train", *cmd[3:]]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--fresh", type=int, default=10_000, help="fresh held-out prompts scored through the registered model")
    parser.add_argument("--max-seconds", type=float, default=180.0)
    parser.add_argument("--min-exact-match", type=float, default=0.995)
    args = parser.parse_args()

    results = [run_once(seed, args.fresh) for seed in args.seeds]
    print("| command | wall time (s) | test exact match | fresh 10k exact match | tokens/s | MLflow run |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| `{r['command']}` | {r['wall_s']} | {r['test_exact_match']:.4f} | {r['fresh_exact_match']:.4f} "
            f"| {r['tokens_per_second_median']:.0f} | {r['run_id']} |"
        )
    print(json.dumps(results))
    missed = [
        r for r in results if r["wall_s"] > args.max_seconds or min(r["test_exact_match"], r["fresh_exact_match"]) < args.min_exact_match
    ]
    if missed:
        raise SystemExit(f"target missed (<= {args.max_seconds} s, >= {args.min_exact_match} exact match): {missed}")


if __name__ == "__main__":
    main()
