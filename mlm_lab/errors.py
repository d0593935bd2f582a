"""Errors that mlm_lab raises for bad input: each names the key at fault and how to fix it."""

import collections.abc
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
    """Raise ConfigError unless `value` fits `annotation`: int, float, bool, str, None, lists, tuples and sequences
    of them (a config list fits a tuple), dicts, and unions of these.

    Annotations of other kinds (tensors, modules, Any, object) are not checked, nor are items of such a type.
    """
    if _fits(value, annotation) is False:
        names = _describe(annotation)
        require(False, key, f"expected {names}, got {value!r}", f"set {key} to a value of type {names}")


def check_field_types(obj, prefix: str) -> None:
    """Check a dataclass instance's fields against their annotations."""
    for f in dataclasses.fields(obj):
        check_type(getattr(obj, f.name), f.type, f"{prefix}.{f.name}")


_SIMPLE = (int, float, bool, str, type(None))
_SEQUENCES = (list, tuple, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


def _fits(value, annotation) -> bool | None:
    """Whether `value` fits `annotation`; None for an annotation of a kind that is not checked."""
    if annotation in _SIMPLE:
        return _is_instance(value, annotation)
    origin, args = typing.get_origin(annotation) or annotation, typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or origin is typing.Union:
        fits = [_fits(value, t) for t in args]
        return True if True in fits else None if None in fits else False
    if origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_fits(v, t) is not False for v, t in zip(value, args))
        return not args or all(_fits(v, args[0]) is not False for v in value)
    if origin in _MAPPINGS:
        return isinstance(value, dict) and (len(args) < 2 or all(_fits(v, args[1]) is not False for v in value.values()))
    return None


def _describe(annotation) -> str:
    """`annotation` in the words of a config: null, int, list of str, list of 2 float, dict."""
    if annotation is type(None):
        return "null"
    origin, args = typing.get_origin(annotation) or annotation, typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or origin is typing.Union:
        return " or ".join(_describe(t) for t in args)
    if origin in _SEQUENCES:
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"list of {len(args)} {' and '.join(dict.fromkeys(_describe(t) for t in args))}"
        return f"list of {_describe(args[0])}" if args else "list"
    if origin in _MAPPINGS:
        return "dict"
    return getattr(annotation, "__name__", str(annotation))


def _is_instance(value, t: type) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)
