"""`mlm-compare`: a table and overlay plots comparing the runs of an experiment or a sweep.

mlm-compare experiment=arithmetic               # every run of the experiment
mlm-compare experiment=arithmetic sweep=latest  # the newest sweep's child runs (report logged to its parent)
mlm-compare sweep=<parent run id>
mlm-compare experiment=cervantes dataset=<digest>   # only the runs that saw that dataset
mlm-compare experiment=arithmetic axis=flops        # curves against training FLOPs (tokens, minutes; default steps)
mlm-compare sweep=<isoFLOP sweep> scaling=true predict_flops=1e16   # the compute-optimal size and tokens
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlm_lab.apps.common import check_overrides, conf_dir, exit_on_config_error
from mlm_lab.errors import ConfigError


def run(cfg: DictConfig) -> list[Path]:
    from mlm_lab.tracking.comparison import compare, latest_sweep
    from mlm_lab.tracking.store import resolve_uri

    uri = resolve_uri(cfg.tracking_uri)
    if not cfg.experiment and not cfg.sweep:
        raise ConfigError("nothing to compare. Fix: pass experiment=NAME (its runs) and/or sweep=<parent run id>|latest")
    if cfg.sweep == "latest" and not cfg.experiment:
        raise ConfigError("sweep=latest needs the experiment. Fix: add experiment=NAME")
    if cfg.scaling and (not isinstance(cfg.bootstrap, int) or isinstance(cfg.bootstrap, bool) or cfg.bootstrap < 0):
        raise ConfigError(
            f"bootstrap={cfg.bootstrap!r}: the resamples behind the scaling fits' intervals. Fix: a whole number >= 0 (0: no intervals)"
        )
    parent = latest_sweep(uri, cfg.experiment) if cfg.sweep == "latest" else cfg.sweep
    if cfg.scaling:
        from mlm_lab.tracking.scaling_report import report

        written = report(uri, cfg.output_dir, cfg.experiment, parent, cfg.metric, cfg.predict_flops, cfg.max_runs, cfg.bootstrap)
        print(written[0].read_text())
        return written
    written = compare(
        uri, cfg.output_dir, experiment=cfg.experiment, parent_run_id=parent, max_runs=cfg.max_runs, dataset=cfg.dataset, axis=cfg.axis
    )
    if not written:
        raise ConfigError(f"no runs found for {'sweep ' + parent if parent else 'experiment ' + cfg.experiment} in {uri}")
    print(written[0].read_text())
    return written


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="compare")
@exit_on_config_error
def app(cfg: DictConfig) -> list[Path]:
    return run(cfg)


def main() -> None:
    """The `mlm-compare` command: an override of a key the config lacks exits 2 naming the closest keys, before Hydra runs."""
    check_overrides(conf_dir() / "apps", "compare", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
