"""`mlm-train resume=<run id | checkpoint | folder | models:/m-...>`: find the checkpoint and rebuild the run's own config.

A resumed run is the same run: its config comes from the checkpoint, and the command line may
change only how it runs (the `trainer` budget, `hardware`, `tracking`, where things are written), never what
it trains. To train something else from these weights, start a new run with `trainer.init_from`.
"""

import logging
import re
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mlm_lab.errors import ConfigError
from mlm_lab.tracking import lookup
from mlm_lab.tracking.checkpoint_models import model_id_of
from mlm_lab.training.checkpoint import load_checkpoint

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
CHANGEABLE = ("trainer", "hardware", "tracking", "output_dir", "cache_dir", "resume")
STORE_FIX = "Fix: set tracking.uri to the store that holds the run, or pass the checkpoint file itself"


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def changeable(key: str) -> bool:
    return key.startswith("hydra.") or any(key == c or key.startswith(c + ".") for c in CHANGEABLE)


def is_logged_model(ref) -> bool:
    return bool(ref) and str(ref).startswith("models:/")


def fetch_logged(ref: str, tracker, key: str) -> tuple[Path, dict[str, str]]:
    """(The checkpoint file of logged model `models:/m-...`, its tags), fetched from the store; refused by name otherwise."""
    if model_id_of(ref) is None:
        raise ConfigError(
            f"{key}: {ref!r} is not a logged checkpoint. Fix: pass models:/m-<32 hex digits>, a model id the run's Models tab "
            "or search_logged_models lists (a registered model, models:/NAME@alias, is for mlm-generate and mlm-eval)"
        )
    try:
        return tracker.fetch_checkpoint(ref, tempfile.mkdtemp(prefix="mlm_lab_logged_"))
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: cannot fetch {ref}: {e}. Fix: set tracking.uri to the store that holds it") from None


def find_checkpoint(ref: str, tracker) -> Path:
    """A checkpoint file as given, `final.pt` (else `latest.pt`) in a folder, the newest checkpoint of an MLflow run,
    or a checkpoint logged as a model (`models:/m-...`, a full one: best checkpoints hold weights unless log_best=full)."""
    if is_logged_model(ref):
        path, tags = fetch_logged(ref, tracker, "resume")
        if tags.get("mlm_lab.state") != "full":
            raise ConfigError(
                f"resume: {ref} holds the weights of a best checkpoint, not its training state (trainer.log_best=weights). "
                f"Fix: start a new run from them with trainer.init_from={ref}, resume the run itself (resume=<its run id>), "
                "or log best checkpoints resumable with trainer.log_best=full"
            )
        return path
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("final.pt", "latest.pt"):
            if (path / name).is_file():
                return path / name
        raise ConfigError(f"resume: folder {path} holds no final.pt or latest.pt. Fix: point resume at a run's checkpoints/ folder or file")
    if RUN_ID.match(ref):
        try:
            if tracker.keeps_runs:
                lookup.refuse_deleted(tracker.resolved_uri, ref, "resume")
            return tracker.download_checkpoint(ref, tempfile.mkdtemp(prefix="mlm_lab_resume_"))
        except ConfigError:
            raise
        except FileNotFoundError as e:
            status = tracker.run_status(ref) if tracker.keeps_runs else None
            if status is None:
                raise ConfigError(
                    f"resume: cannot fetch a checkpoint of run {ref} from {tracker.resolved_uri} ({e}). {STORE_FIX}"
                ) from None
            raise ConfigError(
                f"resume: run {ref} is {status} and logged no checkpoint (no checkpoints/final.pt or checkpoints/latest.pt "
                f"artifact), so there is nothing to resume. Fix: run its command again from the start (mlm-train rerun={ref}), "
                "or start a new run"
            ) from None
        except Exception as e:
            raise ConfigError(f"resume: cannot fetch a checkpoint of run {ref} from {tracker.resolved_uri} ({e}). {STORE_FIX}") from None
    raise ConfigError(
        f"resume: {ref!r} is neither a checkpoint file, a folder with final.pt/latest.pt, nor an MLflow run id (32 hex digits). "
        "Fix: use the run id the interrupted run printed (mlm-train resume=<run id>) or a checkpoints/latest.pt path"
    )


def resume_config(cfg: DictConfig, overrides: list[str], tracker) -> tuple[dict, DictConfig]:
    """(checkpoint, config to run): the checkpoint's config with this command line's budget/hardware/output changes."""
    refused = [o for o in overrides if not changeable(override_key(o))]
    if refused:
        raise ConfigError(
            f"resume: {', '.join(refused)} would change what the resumed run trains. Fix: resume changes only "
            f"{', '.join(CHANGEABLE[:-1])}; to train something else from these weights start a new run with trainer.init_from=PATH"
        )
    path = find_checkpoint(str(cfg.resume), tracker)
    try:
        checkpoint = load_checkpoint(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"resume: {e}. Fix: resume from another checkpoint (checkpoints/latest.pt or best-*.pt)") from None
    if "config" not in checkpoint or "progress" not in checkpoint:
        raise ConfigError(
            f"resume: {path} holds no resumable training state (a checkpoint from an older mlm_lab, or not from mlm-train). "
            "Fix: start a new run from its weights with trainer.init_from=PATH"
        )
    resumed = OmegaConf.create(checkpoint["config"])
    for key in {override_key(o) for o in overrides} | {"output_dir", "resume"}:
        if not key.startswith("hydra."):
            OmegaConf.update(resumed, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
    log.info("resuming from %s at step %d", path, checkpoint.get("step", -1))
    return checkpoint, resumed
