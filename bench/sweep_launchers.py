"""What a parallel launcher buys on this machine: the same sweep with the basic launcher and with joblib.

The sweep is 4 arithmetic jobs (2 widths x 2 seeds, `--steps` steps each), run through `mlm-train -m`
into a fresh sqlite store each time. The basic launcher runs the jobs one after another with all the
cores; joblib runs `--n-jobs` at once, each with its share of the cores (`hardware.threads_used`).
Reported: wall time of the whole command, the speedup, and that every job's run FINISHED under one
parent. A third launch, basic with the same per-job thread count as joblib, checks that the launcher
does not change results: its final val/loss must equal joblib's exactly (with a different thread
count, floating-point sums are reordered and the seeded runs drift apart over the steps).

    python bench/sweep_launchers.py     # target: joblib (2 jobs) >= 1.1x faster than basic; identical results
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow

SWEEP = ["experiment=arithmetic", "model.d_model=64,128", "seed=0,1", "tracking.register_as=null", "hardware=cpu"]


def run_sweep(launcher: list[str], steps: int, workdir: Path) -> dict:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    args = [
        sys.executable,
        "-m",
        "mlm_lab.apps.train",
        "-m",
        *SWEEP,
        f"trainer.max_steps={steps}",
        f"trainer.eval_every={steps}",
        *launcher,
    ]
    started = time.perf_counter()
    result = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(launcher) or 'basic'} sweep failed:\n{result.stderr[-3000:]}")
    runs = mlflow.search_runs(experiment_names=["arithmetic"])
    runs = runs[runs["tags.mlflow.parentRunId"].notna()]
    finished = int((runs["status"] == "FINISHED").sum())
    losses = {
        f"d{int(d)}_seed{int(s)}": round(float(v), 6)
        for d, s, v in zip(runs["params.model.d_model"].astype(int), runs["params.seed"].astype(int), runs["metrics.val/loss"])
    }
    return {"wall_s": round(wall, 1), "finished": finished, "threads": sorted(set(runs["tags.hardware.threads_used"])), "val_loss": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    results = {}
    share = max(1, (os.cpu_count() or 1) // args.n_jobs)
    launches = {
        "basic": [],
        "joblib": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"],
        "basic_same_threads": [f"hardware.threads={share}"],
    }
    for name, launcher in launches.items():
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
            results[name] = run_sweep(launcher, args.steps, Path(tmp))
    speedup = results["basic"]["wall_s"] / results["joblib"]["wall_s"]
    identical = results["joblib"]["val_loss"] == results["basic_same_threads"]["val_loss"]
    print(json.dumps({**results, "speedup": round(speedup, 2), "identical_to_basic_same_threads": identical}, indent=2))
    ok = speedup >= 1.1 and identical and all(r["finished"] == 4 for r in results.values())
    verdict = "PASS" if ok else "FAIL"
    print(f"joblib x{args.n_jobs} vs basic: {speedup:.2f}x; same results as basic at {share} thread(s): {identical} -> {verdict}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
