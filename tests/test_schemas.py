"""The configs' folder and the settings schemas: each group's schema types its keys and targets its class."""

import dataclasses

import pytest
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from mlm_lab.hardware import Hardware
from mlm_lab.schemas import SCHEMAS, conf_dir, register_schemas, schema


def test_conf_dir_holds_the_train_config_and_every_app_config():
    root = conf_dir()
    assert (root / "config.yaml").is_file()
    assert {"generate.yaml", "eval.yaml", "compare.yaml", "upload.yaml"} <= {p.name for p in (root / "apps").glob("*.yaml")}


def test_a_schema_is_the_class_plus_its_target():
    cls = schema(Hardware)
    assert issubclass(cls, Hardware) and cls.__name__ == "HardwareSchema"
    assert {f.name for f in dataclasses.fields(cls)} == {"_target_"} | {f.name for f in dataclasses.fields(Hardware)}
    node = OmegaConf.structured(cls)
    assert node._target_ == "mlm_lab.hardware.Hardware"
    built = instantiate(OmegaConf.merge(node, {"device": "cpu", "threads": 1}))
    assert type(built) is Hardware and built.threads == 1


def test_a_wrong_type_fails_against_the_schema():
    with pytest.raises(ValidationError, match="threads"):
        OmegaConf.merge(OmegaConf.structured(schema(Hardware)), {"threads": "two"})


def test_every_settings_group_is_registered():
    register_schemas()
    repo = ConfigStore.instance().repo
    for group, cls in SCHEMAS.items():
        node = repo[group][f"{group}_schema.yaml"].node
        assert node._target_ == f"{cls.__module__}.{cls.__qualname__}"
