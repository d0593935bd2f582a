"""Loading weights into a model: prefixes tolerated, mismatches explained, partial loads only on request."""

import torch

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile


def strip_wrapper_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the `module.` / `_orig_mod.` prefixes that wrappers add (in any order, any number)."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


def _explain(source_config: dict | None, target_config: dict) -> str:
    if not source_config:
        return ""
    diffs = [
        f"{k}: checkpoint {source_config.get(k)!r}, model {target_config.get(k)!r}"
        for k in sorted(set(source_config) | set(target_config))
        if k != "_target_" and source_config.get(k) != target_config.get(k)
    ]
    return ("\nconfig values that differ:\n  " + "\n  ".join(diffs)) if diffs else ""


def load_weights(model: torch.nn.Module, state: dict, source_config: dict | None = None, include: list[str] | None = None) -> list[str]:
    """Copy `state` into `model`; returns the keys loaded.

    Without `include`, every key must match in name and shape, or nothing is loaded and the error lists
    the mismatched tensors and the config values that explain them. With `include` (key prefixes such as
    `tok_emb.`), only those tensors are loaded, the rest of the model keeps its initial weights.
    """
    state = strip_wrapper_prefixes(state)
    own = model.state_dict()
    wanted = [k for k in own if include is None or k.startswith(tuple(include))]
    if include is not None and not wanted:
        raise ValueError(
            f"include={include} matches no parameter of the model; its keys start with {sorted({k.split('.')[0] for k in own})}"
        )
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in own] if include is None else []
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
        for k in wanted
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        lines = [f"checkpoint does not fit the model ({type(model).__name__}); nothing was loaded"]
        if shapes:
            lines.append("shape mismatches:\n  " + "\n  ".join(shapes))
        if missing:
            lines.append("missing from the checkpoint:\n  " + "\n  ".join(missing))
        if unexpected:
            lines.append("not in the model:\n  " + "\n  ".join(unexpected))
        config = model.config.to_dict() if hasattr(model, "config") else {}
        hint = "\nto load only some tensors on purpose, pass include=[key prefixes] (trainer.init_include)"
        raise ValueError("\n".join(lines) + _explain(source_config, config) + hint)
    model.load_state_dict({**own, **{k: state[k] for k in wanted}})
    return wanted
