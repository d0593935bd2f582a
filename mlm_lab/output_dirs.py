"""Output folders no two processes share: `${unique_dir:run,outputs/DATE/TIME}` in conf/config.yaml.

Two `mlm-train` started in the same second would otherwise both write `outputs/DATE/TIME/` (checkpoints, model/,
train.log, the tracking journal). `unique_dir` claims the folder with `os.mkdir`, which fails for all but one
process, and takes `TIME-1`, `TIME-2`... after a collision. A process claims once per kind (`run`, `sweep`) and
working directory: Hydra resolves `hydra.run.dir` (and a sweep's `hydra.sweep.dir`) in more than one copy of the
config, some of which drop the cache of `${now:...}`; a copy resolved a second later must still name the same folder.
"""

import os
from pathlib import Path

from omegaconf import OmegaConf

_claimed: dict[tuple[str, str], str] = {}  # (kind, working directory) -> the folder this process claimed


def claim(base: str) -> str:
    """`base`, else `base-1`, `base-2`...: the first of them this call created (its parents are made as needed)."""
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        candidate = f"{base}-{n}" if n else base
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            n += 1


def unique_dir(kind: str, base: str) -> str:
    """The folder this process claimed for `kind` in its working directory: `base` (or `base-N`) on the first call."""
    key = (kind, os.getcwd())
    if key not in _claimed:
        _claimed[key] = claim(base)
    return _claimed[key]


def register_resolver() -> None:
    OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True, replace=True)
