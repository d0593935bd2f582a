"""What MLflow tracking costs a training run: the same fit with `tracking=mlflow` and `tracking=none`.

Both modes build the same components from the arithmetic experiment and time only `runner.fit`
(training steps, evaluations, samples, checkpoint writes); with MLflow that also includes the metric
points, the samples artifacts and the checkpoint uploads to a real sqlite store. Modes alternate
round by round so machine drift hits both alike; the figure is the ratio of median fit times.

    python bench/tracking_overhead.py             # target: overhead < 3%
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from mlm_lab.config import conf_dir, register_schemas
from mlm_lab.runner import build_components, fit

register_schemas()


def fit_seconds(tracking: str, overrides: list[str], workdir: Path) -> float:
    extra = [f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}"] if tracking == "mlflow" else []
    out = workdir / f"out-{time.time_ns()}"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"tracking={tracking}", *extra, f"output_dir={out}"])
    config = OmegaConf.to_container(cfg, resolve=True)
    c = build_components(cfg)
    with c.tracker.run(config, overrides):
        started = time.perf_counter()
        fit(c, out, config, None)
        return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("overrides", nargs="*", default=["experiment=arithmetic", "trainer.max_steps=400", "hardware.threads=2"])
    args = p.parse_args()
    times: dict[str, list[float]] = {"none": [], "mlflow": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for mode in ("none", "mlflow") if r % 2 == 0 else ("mlflow", "none"):
                times[mode].append(fit_seconds(mode, args.overrides, Path(tmp)))
                print(json.dumps({"round": r, "tracking": mode, "fit_seconds": round(times[mode][-1], 2)}), flush=True)
    off, on = statistics.median(times["none"]), statistics.median(times["mlflow"])
    overhead = on / off - 1
    print(
        json.dumps({"overrides": args.overrides, "fit_s_none": round(off, 2), "fit_s_mlflow": round(on, 2), "overhead": round(overhead, 4)})
    )
    print(f"tracking overhead {overhead:.1%} (target < 3%): {'PASS' if overhead < 0.03 else 'FAIL'}")


if __name__ == "__main__":
    main()
