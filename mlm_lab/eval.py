"""`mlm-eval`: re-run a logged or registered model's evaluation on its task.

mlm-eval model=models:/arithmetic/latest            # the test split the run held out
mlm-eval model=models:/arithmetic/latest split=val
"""

import json

import hydra
from omegaconf import DictConfig, OmegaConf

from mlm_lab.config import conf_dir


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="eval")
def main(cfg: DictConfig) -> dict:
    from mlm_lab.builders import build
    from mlm_lab.tracking.mlflow_tracker import load_registered

    predictor, run_config = load_registered(cfg.model, cfg.tracking_uri)
    data_cfg = OmegaConf.merge(run_config["data"], cfg.data)
    task = build(data_cfg, "data")
    task.setup(predictor.tokenizer)
    metrics = {f"{cfg.split}/{k}": v for k, v in task.evaluate(predictor, cfg.split).items()}
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
