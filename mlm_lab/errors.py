"""Errors that mlm_lab raises for bad input: each names the key at fault and how to fix it."""

import dataclasses
import types
import typing


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


def require(condition: bool, key: str, problem: str, fix: str) -> None:
    """Raise ConfigError('key: problem. Fix: fix') unless condition holds."""
    if not condition:
        raise ConfigError(f"{key}: {problem}. Fix: {fix}")


def check_field_types(obj, prefix: str) -> None:
    """Check a dataclass instance's fields against their annotations (int, float, bool, str, X | None)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        allowed = typing.get_args(f.type) if isinstance(f.type, types.UnionType) else (f.type,)
        if not all(isinstance(t, type) for t in allowed):
            continue
        ok = any(_is_instance(value, t) for t in allowed)
        names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        require(ok, f"{prefix}.{f.name}", f"expected {names}, got {value!r}", f"set {prefix}.{f.name} to a value of type {names}")


def _is_instance(value, t: type) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)
