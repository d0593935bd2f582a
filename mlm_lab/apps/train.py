"""`mlm-train`: compose the config with Hydra and run the generic runner."""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mlm_lab.apps.common import check_overrides, exit_on_config_error
from mlm_lab.schemas import conf_dir, register_schemas

register_schemas()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
@exit_on_config_error
def app(cfg: DictConfig) -> float:
    """Train one job of the composed config; returns the sweep objective."""
    from mlm_lab.runner import train_seeds
    from mlm_lab.training.checkpoint import CheckpointWriteError
    from mlm_lab.training.signals import TrainingInterrupted
    from mlm_lab.training.trainer import NonFiniteLossError

    try:
        return train_seeds(cfg, overrides=list(HydraConfig.get().overrides.task))
    except TrainingInterrupted as e:
        log.error(
            "interrupted: %s. The run is marked KILLED; continue it with: %s", e, getattr(e, "resume_command", "mlm-train resume=PATH")
        )
        sys.exit(e.exit_code)
    except (NonFiniteLossError, CheckpointWriteError) as e:
        log.error("%s", e)
        sys.exit(1)


def main() -> None:
    """The `mlm-train` command: an override of a key the config lacks exits 2 naming the closest keys, before Hydra runs."""
    check_overrides(conf_dir(), "config", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
