"""The one place that calls `hydra.utils.instantiate`.

Before building, a config's keys and simple value types are checked against its target's
signature, so a misspelt key or a wrong type fails with the key's full name instead of a
TypeError from deep inside a constructor.
"""

import inspect
import typing
from typing import Any

import hydra.utils
from omegaconf import DictConfig, OmegaConf

from mlm_lab.errors import ConfigError, check_type

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def check_signature(cfg: DictConfig | dict, name: str) -> None:
    """Fail if `cfg` names a key its `_target_` does not accept, or a value of the wrong simple type."""
    node = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
    target_path = node.get("_target_")
    if target_path is None:
        raise ConfigError(f"{name}: has no _target_. Fix: choose a config from conf/{name}/ (e.g. {name}=<choice>)")
    try:
        target = hydra.utils.get_object(target_path)
    except Exception as e:
        raise ConfigError(f"{name}._target_: cannot import {target_path!r} ({e}). Fix: check the spelling of the target") from None
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing to check against
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in node.keys() if k not in _HYDRA_KEYS and k not in params]
    if unknown:
        accepted = ", ".join(k for k in params if k != "self")
        raise ConfigError(
            f"{name}: {target_path} does not accept {', '.join(f'{name}.{k}' for k in unknown)}. Fix: remove it or use one of: {accepted}"
        )
    hints = _type_hints(target)
    for key in node.keys():
        if key in hints and key not in _HYDRA_KEYS:
            check_type(node[key], hints[key], f"{name}.{key}")


def _type_hints(target) -> dict:
    try:
        return typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:
        return {}  # unresolvable annotations: the key check above still applies


def build(cfg: DictConfig | dict, name: str) -> Any:
    """Instantiate `cfg` (group `name`); `_partial_` configs return a callable for the runtime values."""
    check_signature(cfg, name)
    try:
        return hydra.utils.instantiate(cfg, _convert_="all")
    except ConfigError:
        raise
    except Exception as e:
        # Hydra wraps constructor errors; surface our own ConfigError when that is the cause.
        cause = e
        while cause is not None:
            if isinstance(cause, ConfigError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise
