"""`mlm-eval`: score a logged or registered model on its task, or on any text file.

mlm-eval model=models:/arithmetic/latest                  # the test split the run held out
mlm-eval model=models:/arithmetic/latest split=val
mlm-eval model=models:/cervantes/latest data.path=FILE.txt  # loss, perplexity, bits per byte of a file
"""

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from mlm_lab.cli import exit_on_config_error
from mlm_lab.config import conf_dir
from mlm_lab.errors import require

FILE_KEYS = ("path", "separator", "text_column", "sha256", "cache_dir")  # eval.yaml's keys for scoring a file


def score_file(predictor, data: DictConfig, stride: int | None) -> dict[str, float]:
    """Loss, perplexity and bits per byte of the documents in `data.path` (a file, folder or URL)."""
    from mlm_lab.data.download import resolve
    from mlm_lab.data.sources import read_documents

    path = resolve(data.path, data.get("cache_dir"), sha256=data.get("sha256"), key="data.path")
    documents, _ = read_documents(path, text_column=data.get("text_column", "text"), separator=data.get("separator"), key="data.path")
    return predictor.score(documents, stride=stride)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    from mlm_lab.builders import build
    from mlm_lab.hardware import Device, Hardware
    from mlm_lab.tracking.mlflow_tracker import MlflowTracker, load_registered
    from mlm_lab.training.evaluation import evaluate_split

    predictor, run_config = load_registered(cfg.model, cfg.tracking_uri)
    if cfg.data.get("path"):
        metrics = {f"eval/{k}": v for k, v in score_file(predictor, cfg.data, cfg.stride).items()}
        what = Path(str(cfg.data.path)).name
    else:
        overrides = {k: v for k, v in OmegaConf.to_container(cfg.data).items() if k not in FILE_KEYS}
        task = build(OmegaConf.merge(run_config["data"], overrides), "data")
        task.setup(predictor.tokenizer)
        split = cfg.split or (task.held_out_splits[0] if task.held_out_splits else "val")
        require(
            split in task.split_names,
            "split",
            f"is {split!r} but this task has the splits {list(task.split_names)}",
            "pick one of them, or score a text file with data.path=FILE",
        )
        hardware = Hardware(device=Device.cpu)
        metrics = {f"{split}/{k}": v for k, v in evaluate_split(predictor.model, task, predictor, split, hardware).items()}
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
def main(cfg: DictConfig) -> dict:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
