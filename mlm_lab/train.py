"""`mlm-train`: compose the config with Hydra and run the generic runner."""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mlm_lab.config import conf_dir, register_schemas
from mlm_lab.errors import ConfigError

register_schemas()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def main(cfg: DictConfig) -> float:
    from mlm_lab.runner import train

    try:
        return train(cfg, overrides=list(HydraConfig.get().overrides.task))
    except ConfigError as e:
        log.error("%s", e)
        sys.exit(2)


if __name__ == "__main__":
    main()
