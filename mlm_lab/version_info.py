"""What a registered version says of itself: its run, its objective, its tokenizer and data digests, a description."""

import hashlib
import json

from mlm_lab.schemas import conf_dir
from mlm_lab.tokenizers import tokenizer_sha256
from mlm_lab.tracking import champion
from mlm_lab.tracking.redact import redact_overrides


def data_digest(config: dict) -> str:
    """sha256 of the data config and seed: equal for runs that saw the same data (a corpus's files are hashed apart)."""
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in ("batch_size", "cache_dir", "prompts")}
    return hashlib.sha256(json.dumps({"data": data, "seed": config.get("seed")}, sort_keys=True, default=str).encode()).hexdigest()


def preset_header(name: str) -> str:
    """The first comment line of the experiment preset named `name` (conf/experiment/NAME.yaml), or ""."""
    path = conf_dir() / "experiment" / f"{name}.yaml"
    if not name or not path.is_file():
        return ""
    comments = [line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#") and "@package" not in line]
    return comments[0] if comments else ""


def version_info(run_id: str, task, tokenizer, config: dict, val: dict, overrides: list[str]) -> dict:
    """Tags, description and objective of the version a run registers (`tracking.registry.register_version` takes it)."""
    objective = f"val/{task.objective}"
    value = float(val.get(objective, float("nan")))
    data = {f"mlm_lab.{k}": v for k, v in task.tags().items() if k.endswith("sha256")}
    data["mlm_lab.data.sha256"] = data_digest(config)
    tags = {
        champion.RUN_TAG: run_id,
        champion.OBJECTIVE_TAG: objective,
        champion.VALUE_TAG: repr(value),
        champion.DIRECTION_TAG: task.objective_direction,
        "mlm_lab.tokenizer.sha256": tokenizer_sha256(tokenizer),
        **data,
    }
    lines = [
        preset_header(config.get("name", "")),
        f"{objective} = {value:.6g}",
        "overrides: " + (" ".join(redact_overrides(overrides)) or "(none)"),
    ]
    return {
        "tags": tags,
        "description": "\n".join(line for line in lines if line),
        "objective": objective,
        "value": value,
        "direction": task.objective_direction,
    }
