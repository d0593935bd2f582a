"""`mlm-compare`: a table and overlay plots comparing the runs of an experiment or a sweep.

mlm-compare experiment=arithmetic               # every run of the experiment
mlm-compare experiment=arithmetic sweep=latest  # the newest sweep's child runs (report logged to its parent)
mlm-compare sweep=<parent run id>
"""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlm_lab.config import conf_dir
from mlm_lab.errors import ConfigError

log = logging.getLogger(__name__)


def latest_sweep(experiment: str) -> str:
    """The parent run id of the newest sweep in `experiment`."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=[experiment], filter_string="tags.`mlm_lab.role` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
    )
    if runs.empty:
        raise ConfigError(
            f"sweep=latest: experiment {experiment!r} has no sweep (run one with mlm-train -m). Fix: compare it with experiment= alone"
        )
    return str(runs["run_id"].iloc[0])


def run(cfg: DictConfig) -> list[Path]:
    import mlflow

    from mlm_lab.reports.compare import compare
    from mlm_lab.tracking.mlflow_tracker import MlflowTracker

    uri = MlflowTracker(uri=cfg.tracking_uri).resolved_uri
    mlflow.set_tracking_uri(uri)
    if not cfg.experiment and not cfg.sweep:
        raise ConfigError("nothing to compare. Fix: pass experiment=NAME (its runs) and/or sweep=<parent run id>|latest")
    if cfg.sweep == "latest" and not cfg.experiment:
        raise ConfigError("sweep=latest needs the experiment. Fix: add experiment=NAME")
    parent = latest_sweep(cfg.experiment) if cfg.sweep == "latest" else cfg.sweep
    written = compare(uri, cfg.output_dir, experiment=cfg.experiment, parent_run_id=parent, max_runs=cfg.max_runs)
    if not written:
        raise ConfigError(f"no runs found for {'sweep ' + parent if parent else 'experiment ' + cfg.experiment} in {uri}")
    print(written[0].read_text())
    return written


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="compare")
def main(cfg: DictConfig) -> list[Path]:
    try:
        return run(cfg)
    except ConfigError as e:
        log.error("%s", e)
        sys.exit(2)


if __name__ == "__main__":
    main()
