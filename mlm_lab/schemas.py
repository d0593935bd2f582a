"""Where the Hydra configs live, and the typed schemas of the settings groups.

Settings (hardware, trainer, tracking) are dataclasses registered in Hydra's ConfigStore, so a
wrong type or an unknown key fails at composition with Hydra's message. Each schema carries the
`_target_` of the object it configures, so the runner builds every group the same way.
"""

import dataclasses

from hydra.core.config_store import ConfigStore

from mlm_lab import output_dirs
from mlm_lab.conf_path import conf_dir  # noqa: F401  (re-exported: mlm_lab.schemas.conf_dir)
from mlm_lab.hardware import Hardware
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from mlm_lab.training.trainer import Trainer


def schema(cls: type) -> type:
    """A dataclass with `cls`'s typed fields plus a `_target_` that instantiates `cls`."""
    target = dataclasses.field(default=f"{cls.__module__}.{cls.__qualname__}")
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", [("_target_", str, target)], bases=(cls,))


SCHEMAS = {"hardware": Hardware, "trainer": Trainer, "tracking": MlflowTracker}


def register_schemas() -> None:
    """Store `<group>_schema` for each settings group (the group's YAML files list it in their defaults), and register
    the `unique_dir` resolver conf/config.yaml names its output folders with."""
    output_dirs.register_resolver()
    cs = ConfigStore.instance()
    for group, cls in SCHEMAS.items():
        cs.store(group=group, name=f"{group}_schema", node=schema(cls))
