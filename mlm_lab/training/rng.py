"""Every random state a resumed run needs to draw the same numbers as an uninterrupted one."""

import random

import numpy as np
import torch


def rng_state(generator: torch.Generator) -> dict:
    """Python, NumPy, torch (CPU and CUDA) and the data generator's states, as tensors and plain containers."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": list(_to_lists(random.getstate())),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restore what `rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["data"])


def _to_lists(value):
    # random.getstate() nests tuples; weights_only loading accepts lists and tuples, kept as lists here.
    return [list(v) if isinstance(v, tuple) else v for v in value]
