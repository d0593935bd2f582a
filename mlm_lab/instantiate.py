"""The one place that calls `hydra.utils.instantiate`.

Before building, a config's keys and simple value types are checked against its target's
signature, so a misspelt key or a wrong type fails with the key's full name instead of a
TypeError from deep inside a constructor.
"""

import inspect
import re
import typing
from typing import Any

import hydra.utils
from omegaconf import DictConfig, ListConfig, OmegaConf

from mlm_lab.errors import ConfigError, check_type, require

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
_CONVERT = ("none", "partial", "object", "all")
_TARGET_FIX = "set it to a class or function such as mlm_lab.models.builders.gpt2, or choose a config of the group"


def check_signature(cfg: DictConfig | dict, name: str) -> None:
    """Fail if `cfg`, or a config nested in it, names a key its `_target_` does not accept, or a value of the wrong type."""
    node = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
    target_path = node.get("_target_")
    if target_path is None:
        raise ConfigError(f"{name}: has no _target_. Fix: choose a config from conf/{name}/ (e.g. {name}=<choice>)")
    _check_hydra_keys(node, name)
    for key in node.keys():
        if key not in _HYDRA_KEYS and not OmegaConf.is_missing(node, key):
            _check_nested(node[key], f"{name}.{key}")
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
    if not node.get("_partial_", False):  # a partial config leaves parameters to the runner
        for key, p in params.items():
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and key not in node.keys():
                raise ConfigError(f"{name}.{key}: is required by {target_path}. Fix: set {name}.{key}, or choose a config of the group")
    hints = _type_hints(target)
    raw = OmegaConf.to_container(node, resolve=False)
    for key in node.keys():
        if key in hints and key not in _HYDRA_KEYS and not OmegaConf.is_missing(node, key):
            value = node[key]
            value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            # a value copied from another key (block_size: ${model.context_length}) is named by the key the user sets
            source = re.fullmatch(r"\$\{([\w.]+)\}", raw[key]) if isinstance(raw[key], str) else None
            check_type(value, hints[key], source[1] if source else f"{name}.{key}")


def _check_hydra_keys(node: DictConfig, name: str) -> None:
    """Hydra's own keys have fixed types; a wrong one would be a TypeError from inside `instantiate`."""
    require(isinstance(node.get("_target_"), str), f"{name}._target_", f"must be a dotted path, got {node.get('_target_')!r}", _TARGET_FIX)
    for key in ("_partial_", "_recursive_"):
        value = node.get(key, False)
        require(isinstance(value, bool), f"{name}.{key}", f"must be true or false, got {value!r}", f"remove {name}.{key}")
    convert = node.get("_convert_", "none")
    require(
        str(convert).lower() in _CONVERT,
        f"{name}._convert_",
        f"must be one of {list(_CONVERT)}, got {convert!r}",
        f"remove {name}._convert_",
    )


def _check_nested(value, name: str) -> None:
    """Check every config with a `_target_` inside `value` (a corpus in data, the corpora of a mixture)."""
    if isinstance(value, DictConfig) and "_target_" in value:
        check_signature(value, name)
    elif isinstance(value, DictConfig):
        for key, item in value.items():
            _check_nested(item, f"{name}.{key}")
    elif isinstance(value, ListConfig):
        for i, item in enumerate(value):
            _check_nested(item, f"{name}[{i}]")


def _missing(node: DictConfig, prefix: str):
    """Dotted keys under `node` whose value is ??? (interpolations are left to resolve where they are used)."""
    for key in node.keys():
        if OmegaConf.is_missing(node, key):
            yield f"{prefix}{key}"
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            yield from _missing(node[key], f"{prefix}{key}.")


def _type_hints(target) -> dict:
    try:
        return typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:
        return {}  # unresolvable annotations: the key check above still applies


def build(cfg: DictConfig | dict, name: str) -> Any:
    """Instantiate `cfg` (group `name`); `_partial_` configs return a callable for the runtime values."""
    missing = next(_missing(OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg, f"{name}."), None)
    if missing is not None:
        raise ConfigError(f"{missing}: has no value (??? in the config). Fix: set {missing}=... on the command line")
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
