"""Helpers shared by the command-line apps."""

import difflib
import functools
import logging
import re
import sys
from pathlib import Path

from mlm_lab.conf_path import conf_dir  # noqa: F401  (no torch or mlflow: an app refusing bad input starts fast)

_PROMPT_ARG = re.compile(r"^(\+{0,2}prompt)=(.*)$", re.DOTALL)


def quote_prompt_args(argv: list[str]) -> list[str]:
    """Quote `prompt=...` arguments so Hydra takes them verbatim (`prompt=12+34=` is not valid Hydra syntax).

    Values already quoted, or lists (`prompt=[a,b]`), are left for Hydra to parse.
    """
    out = []
    for arg in argv:
        m = _PROMPT_ARG.match(arg)
        if m and not re.match(r"^\s*['\"\[]", m.group(2)):
            # Hydra's quoted strings: escape quotes, and double backslashes only where they precede a quote
            value = re.sub(r"(\\*)'", lambda q: q.group(1) * 2 + "\\'", m.group(2))
            value = re.sub(r"(\\+)$", lambda q: q.group(1) * 2, value)
            arg = f"{m.group(1)}='{value}'"
        out.append(arg)
    return out


def fix_argv() -> None:
    sys.argv[1:] = quote_prompt_args(sys.argv[1:])


# what to pass for an app's required (???) settings, in a missing one's Fix
EXAMPLES = {
    "model": "models:/NAME/latest",
    "prompt": "'12+34='",
    "journal": "outputs/DATE/TIME",
    "name": "NAME (an experiment preset sets it: experiment=arithmetic)",
}


def exit_on_config_error(app):
    """An app's body: a ConfigError (bad input, named with its fix) is logged and exits with code 2, no traceback.

    A required setting left out (`???` in the app's config) is such an error, refused before the app runs.
    """
    from mlm_lab.errors import ConfigError

    @functools.wraps(app)
    def body(cfg):
        try:
            require_given(cfg)
            return app(cfg)
        except ConfigError as e:
            logging.getLogger(app.__module__).error("%s", e)
            sys.exit(2)

    return body


def require_given(cfg) -> None:
    """Raise ConfigError naming every top-level setting of `cfg` that is required (`???`) and was not given."""
    from omegaconf import OmegaConf

    from mlm_lab.errors import ConfigError

    missing = [key for key in cfg.keys() if OmegaConf.is_missing(cfg, key)]
    if missing:
        verb = "is required and was not given" if len(missing) == 1 else "are required and were not given"
        given = " ".join(f"{key}={EXAMPLES.get(key, '...')}" for key in missing)
        raise ConfigError(f"{', '.join(missing)}: {verb}. Fix: add {given} to the command")


def check_overrides(config_dir: str | Path, config_name: str, argv: list[str]) -> None:
    """Exit 2 when an override sets a key the composed config lacks, naming the closest keys; before any work is done.

    Hydra would only say `Key 'path' is not in struct` and exit 1. Anything else Hydra reports itself (bad syntax, an
    unknown choice, a wrong type), as do commands this check cannot compose exactly (a swept choice, another config folder).
    """
    from mlm_lab.errors import ConfigError

    try:
        unknown_override(config_dir, config_name, argv)
    except ConfigError as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(2)


def unknown_override(config_dir: str | Path, config_name: str, argv: list[str]) -> None:
    """Raise ConfigError for the first override of a key that the config composed from `argv`'s choices does not have."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if "--version" in argv:
        return
    try:
        args = get_args_parser().parse_args(argv)
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except (SystemExit, Exception):
        return  # Hydra's own message says what is wrong with the command line
    if args.help or args.hydra_help or args.shell_completion or args.info or args.config_path or args.config_dir:
        return
    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        groups = _groups(GlobalHydra.instance().config_loader())
        chosen = [o for o in overrides if not o.is_hydra_override() and (o.key_or_group in groups or o.package is not None or _adds(o))]
        if any(o.is_sweep_override() for o in chosen):
            return  # each job composes a different config; Hydra checks them one by one
        try:
            cfg = compose(args.config_name or config_name, overrides=[o.input_line for o in chosen], return_hydra_config=True)
        except Exception:
            return
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    for o in overrides:
        if o in chosen or o.is_hydra_override() or _has_key(cfg, o.key_or_group):
            continue
        _raise_unknown(cfg, o, choices)


def _adds(override) -> bool:
    return override.is_add() or override.is_force_add() or override.is_delete()


def _groups(loader, parent: str = "") -> set[str]:
    """Every config group's path (`data`, `hydra/launcher`): an override of one picks a choice, it sets no key."""
    found = set()
    for name in loader.list_groups(parent):
        path = f"{parent}/{name}" if parent else name
        found |= {path, *_groups(loader, path)}
    return found


def _has_key(cfg, dotted: str) -> bool:
    """Whether setting `dotted` can succeed: every part exists, or the path leaves the closed dictionaries (a list, an open dict)."""
    from omegaconf import DictConfig, OmegaConf

    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, DictConfig) or not OmegaConf.is_struct(node):
            return True
        if part not in node.keys():  # `in` alone says no for a ??? value
            return False
        node = node._get_node(part)
    return True


def dotted_keys(node, prefix: str = "") -> list[str]:
    """Every key under `node`, nested ones as `a.b.c` (values are not resolved)."""
    from omegaconf import DictConfig, OmegaConf

    keys = []
    for key in node.keys():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not OmegaConf.is_interpolation(node, key) and not OmegaConf.is_missing(node, key):
            keys += dotted_keys(child, f"{dotted}.")
    return keys


def closest_keys(key: str, candidates: list[str], n: int = 3) -> list[str]:
    """Keys that end in the same name first (data.path: data.corpus.path), then the most alike by spelling.

    Spelling is compared below the group (`lrr` against `lr`, `eps`): the group's name, shared by every candidate,
    would make any two keys look alike.
    """
    name = key.rsplit(".", 1)[-1]
    same_name = [c for c in candidates if c.rsplit(".", 1)[-1] == name]
    group = key.split(".")[0] + "." if "." in key else ""
    below = {c.removeprefix(group): c for c in candidates}
    alike = [below[c] for c in difflib.get_close_matches(key.removeprefix(group), list(below), n=n, cutoff=0.6)]
    return list(dict.fromkeys(same_name + alike))[:n]


def _raise_unknown(cfg, override, choices: dict) -> None:
    from omegaconf import DictConfig

    from mlm_lab.errors import ConfigError

    key, value = override.key_or_group, override.input_line.split("=", 1)[1] if "=" in override.input_line else ""
    group = key.split(".")[0]
    if group in cfg.keys() and group != "hydra" and isinstance(cfg._get_node(group), DictConfig):
        candidates = dotted_keys(cfg._get_node(group), f"{group}.")
    else:  # a misspelt group or top-level key
        candidates = [k for k in cfg.keys() if k != "hydra"] + list(choices)
    where = f" (composed from {group}={choices[group]})" if choices.get(group) else ""
    near = closest_keys(key, candidates)
    if near:
        fix = f"set {near[0]}={value}" + (f" (closest keys: {', '.join(near)})" if len(near) > 1 else "")
    else:
        fix = f"use one of the keys of {group}: {', '.join(candidates[:20])}"
    raise ConfigError(f"{key}: is not a key of the config{where}. Fix: {fix}")
