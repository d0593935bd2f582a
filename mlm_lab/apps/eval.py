"""`mlm-eval`: score a logged or registered model on its task, or on any text file.

mlm-eval model=models:/arithmetic@champion                  # the test split the run held out
mlm-eval model=models:/arithmetic@champion split=val
mlm-eval model=models:/cervantes@champion data.path=FILE.txt  # loss, perplexity, bits per byte of a file
"""

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from mlm_lab.apps.common import check_overrides, conf_dir, exit_on_config_error

log = logging.getLogger(__name__)
FILE_KEYS = ("path", "separator", "paragraph_separator", "text_column", "sha256", "cache_dir")  # eval.yaml's keys for a file
NOT_TASK_KEYS = (*FILE_KEYS, "as_trained")  # none of these reaches the run's data config


def evaluate(cfg: DictConfig) -> dict[str, float]:
    from mlm_lab.evaluation.files import score_file, training_reading
    from mlm_lab.evaluation.splits import score_split
    from mlm_lab.hardware import Device, Hardware
    from mlm_lab.instantiate import build
    from mlm_lab.tracking.mlflow_tracker import MlflowTracker
    from mlm_lab.tracking.registry import load_registered

    predictor, run_config = load_registered(cfg.model, cfg.tracking_uri)
    if cfg.data.get("path"):
        options = {k: cfg.data.get(k) for k in FILE_KEYS if k != "path" and cfg.data.get(k) is not None}
        if cfg.data.get("as_trained", True):  # what the command does not set, as the model's training corpus read it
            options = {**training_reading(run_config), **options}
            reading = ", ".join(f"data.{k}={v!r}" for k, v in options.items()) or "no options"
            log.info("reading %s as the model was trained: %s (data.as_trained=false: as the command alone says)", cfg.data.path, reading)
        metrics = {f"eval/{k}": v for k, v in score_file(predictor, cfg.data.path, stride=cfg.stride, **options).items()}
        what = Path(str(cfg.data.path)).name
    else:
        overrides = {k: v for k, v in OmegaConf.to_container(cfg.data).items() if k not in NOT_TASK_KEYS}
        task = build(OmegaConf.merge(run_config["data"], overrides), "data")
        task.setup(predictor.tokenizer)
        split, scores = score_split(predictor, task, cfg.split, Hardware(device=Device.cpu))
        metrics = {f"{split}/{k}": v for k, v in scores.items()}
        what = f"{split} split"
    print(json.dumps(metrics, indent=2))
    if cfg.log:
        tracker = MlflowTracker(uri=cfg.tracking_uri, experiment=run_config.get("name") or "eval", run_name=f"eval {what}")
        with tracker.run(OmegaConf.to_container(cfg, resolve=True), []):
            tracker.set_tags({"eval.model": str(cfg.model), "eval.data": what})
            tracker.log_metrics(metrics, step=0)
    return metrics


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="eval")
@exit_on_config_error
def app(cfg: DictConfig) -> dict:
    return evaluate(cfg)


def main() -> None:
    """The `mlm-eval` command: an override of a key the config lacks exits 2 naming the closest keys, before Hydra runs."""
    check_overrides(conf_dir() / "apps", "eval", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
