from dataclasses import dataclass

import pytest

from mlm_lab.errors import ConfigError, check_field_types, require


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
