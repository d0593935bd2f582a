"""Registered versions that say what they are, and the aliases that point at the best: `champion`, `sweep-<id>`.

Each version mlm_lab registers carries its run, its objective (name, value, direction), its tokenizer and data
digests as tags, and a description (the preset's header line and the run's overrides). `champion` points at the
version with the best objective so far: a new version takes it only when it beats the current champion.
"""

import math
import re

import mlflow
from mlflow.exceptions import MlflowException

CHAMPION = "champion"
RUN_TAG = "mlm_lab.run_id"
OBJECTIVE_TAG = "mlm_lab.objective"
VALUE_TAG = "mlm_lab.objective_value"
DIRECTION_TAG = "mlm_lab.objective_direction"


def better(value: float, than: float | None, direction: str) -> bool:
    """Whether `value` beats `than` in `direction` (a NaN never beats anything; anything finite beats None or NaN)."""
    if value is None or math.isnan(value):
        return False
    if than is None or math.isnan(than):
        return True
    return value > than if direction == "maximize" else value < than


def objective_of(client: mlflow.MlflowClient, version) -> float | None:
    """A version's objective: its tag, else (a version registered before these tags) its run's metric of that name."""
    if VALUE_TAG in version.tags:
        return float(version.tags[VALUE_TAG])
    try:
        run = client.get_run(version.run_id)
    except MlflowException:
        return None
    name = version.tags.get(OBJECTIVE_TAG) or run.data.tags.get("mlm_lab.objective")
    return run.data.metrics.get(name) if name else None


def champion(client: mlflow.MlflowClient, name: str):
    """The version `champion` points at, or None."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def describe(client: mlflow.MlflowClient, name: str, version: str, info: dict) -> None:
    """Tags and description of a freshly registered version (`info` from the runner: tags, description)."""
    for key, value in info.get("tags", {}).items():
        client.set_model_version_tag(name, version, key, str(value))
    if info.get("description"):
        client.update_model_version(name, version, description=info["description"])


def crown(client: mlflow.MlflowClient, name: str, version: str, value: float | None, direction: str) -> bool:
    """Point `champion` at `version` if it beats the current champion (or there is none); whether it moved."""
    current = champion(client, name)
    if current is not None and str(current.version) == str(version):
        return True
    if current is not None and not better(value, objective_of(client, current), direction):
        return False
    if current is None and value is not None and math.isnan(value):
        return False  # a NaN objective is no champion, even the first
    client.set_registered_model_alias(name, CHAMPION, str(version))
    return True


def alias_name(text: str) -> str:
    """`text` as an alias MLflow takes: letters, digits, `_` and `-` (others become `-`)."""
    return re.sub(r"[^\w-]", "-", text)[:200]


def versions_of_run(client: mlflow.MlflowClient, name: str, run_id: str) -> list:
    return client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
