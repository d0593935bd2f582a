from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest
import torch

from mlm_lab.errors import ConfigError, check_field_types, check_type, require


@dataclass
class Settings:
    steps: int = 1
    rate: float = 0.1
    name: str = "x"
    clip: float | None = None
    flag: bool = False


def test_require_names_key_problem_and_fix():
    require(True, "a.b", "never", "nothing")
    with pytest.raises(ConfigError, match=r"^a\.b: is bad\. Fix: make it good$"):
        require(False, "a.b", "is bad", "make it good")


def test_field_types():
    check_field_types(Settings(steps=3, rate=1, clip=None), "s")  # an int is a fine float
    for bad, key in [(dict(steps="3"), "s.steps"), (dict(steps=True), "s.steps"), (dict(rate="x"), "s.rate"),
                     (dict(clip="big"), "s.clip"), (dict(name=3), "s.name"), (dict(flag=1), "s.flag")]:  # fmt: skip
        with pytest.raises(ConfigError, match=key):
            check_field_types(Settings(**bad), "s")


def test_container_types():
    check_type([0.9, 0.95], tuple[float, float], "betas")  # a config list fits a tuple
    check_type("a.txt", str | Sequence[str], "path")
    check_type(["a.txt", "b.txt"], str | Sequence[str], "path")
    check_type({"a": 1.0}, Mapping[str, float], "shares")
    check_type(object(), torch.nn.Module | None, "module")  # kinds that are not checked pass
    for value, annotation, expected in [
        (None, tuple[float, float], "list of 2 float"),
        ([0.9], tuple[float, float], "list of 2 float"),
        (3.5, str | Sequence[str], "str or list of str"),
        (["a", 3], list[str] | None, "list of str or null"),
        ({"a": "x"}, Mapping[str, float], "dict"),
        ("abc", dict, "dict"),
    ]:
        with pytest.raises(ConfigError, match=rf"^k: expected {expected}, got "):
            check_type(value, annotation, "k")
