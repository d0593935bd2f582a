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


def check_type(value, annotation, key: str) -> None:
    """Raise ConfigError unless `value` fits `annotation` (int, float, bool, str, unions of them, X | None).

    Annotations of other kinds (containers, tensors, Any) are not checked.
    """
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    allowed = typing.get_args(annotation) if union else (annotation,)
    if not all(t in _SIMPLE for t in allowed):
        return
    names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    ok = any(_is_instance(value, t) for t in allowed)
    require(ok, key, f"expected {names}, got {value!r}", f"set {key} to a value of type {names}")


def check_field_types(obj, prefix: str) -> None:
    """Check a dataclass instance's fields against their annotations."""
    for f in dataclasses.fields(obj):
        check_type(getattr(obj, f.name), f.type, f"{prefix}.{f.name}")


_SIMPLE = (int, float, bool, str, type(None))


def _is_instance(value, t: type) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)
