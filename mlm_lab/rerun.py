"""`mlm-train rerun=<run id> model=llama`: a logged run's command line, with new overrides, as a new run.

The logged run's overrides (its `overrides.txt` artifact) are composed again with the current configs,
the new command line's overrides replacing any of the same key or group; the new run is tagged
`rerun_of=<run id>`. Its own `overrides.txt` holds the merged list, so a rerun can be rerun.
"""

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from mlm_lab.errors import ConfigError


def merge_overrides(original: list[str], new: list[str]) -> list[str]:
    """`original` with every override whose key (or config group) `new` sets replaced by `new`'s."""
    parser = OverridesParser.create()
    replaced = {o.key_or_group.lstrip("+~") for o in parser.parse_overrides(new)}
    kept = [raw for raw, o in zip(original, parser.parse_overrides(original)) if o.key_or_group.lstrip("+~") not in replaced]
    return kept + new


def rerun_config(cfg: DictConfig, overrides: list[str], tracker) -> tuple[DictConfig, list[str], str]:
    """(the recomposed config, its overrides, the source run id) for `rerun=<run id>` plus `overrides`."""
    source = str(cfg.rerun)
    if cfg.get("resume"):
        raise ConfigError("rerun and resume were both given. Fix: resume=<run id> continues a run; rerun=<run id> starts a new one from it")
    new = [o for o in overrides if not o.lstrip("+").startswith("rerun=")]
    if not tracker.run_exists(source):
        raise ConfigError(
            f"rerun: run {source} is not in the tracking store {tracker.resolved_uri}. "
            "Fix: pass a run id from that store (MLflow UI or mlm-compare), or set tracking.uri to the store it was logged to"
        )
    try:
        logged = tracker.logged_overrides(source)
    except FileNotFoundError as e:
        raise ConfigError(f"rerun: {e}, so its command cannot be recomposed. Fix: start the run again from its config.yaml") from None
    merged = merge_overrides(logged, new)
    return compose(config_name="config", overrides=merged), merged, source
