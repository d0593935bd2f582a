"""What a command names in the tracking store, looked up before any work: a registered model, a run, a model folder.

Each look-up answers with the object, or raises a ConfigError that names the input, what is wrong with it
and the fix (`model=models:/arithmetic/7: 'arithmetic' has versions 1-3, not 7. Fix: ...`). Only "not there" answers of the
store become such errors; a store that cannot be reached raises MLflow's own error for the caller to report.
"""

import re
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlm_lab.errors import ConfigError

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"  # MLflow's error code for a run, model or version the store lacks
MODEL_NAME = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))$")
RUN_PATH = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")
MODEL_FORMS = "models:/NAME/latest, models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/model or a model folder"


def _absent(e: MlflowException) -> bool:
    return e.error_code == NOT_FOUND


def spans(numbers: list[int]) -> str:
    """`[1, 2, 3, 5]` -> `1-3, 5`."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and n == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def registered_names(client: MlflowClient, limit: int = 20) -> list[str]:
    return sorted(m.name for m in client.search_registered_models(max_results=limit))


def _names(names: list[str]) -> str:
    return f"registered: {', '.join(names)}" if names else "the store has no registered models"


def find_run(store: str, run_id: str):
    """Run `run_id` of `store`, or None when the store has no such run."""
    try:
        return MlflowClient(store).get_run(run_id)
    except MlflowException as e:
        if _absent(e):
            return None
        raise


def refuse_deleted(store: str, run_id: str, key: str):
    """Run `run_id` of `store` (None when it lacks it); a deleted run is refused, naming how to restore it."""
    run = find_run(store, run_id)
    if run is not None and run.info.lifecycle_stage == "deleted":
        raise ConfigError(
            f"{key}: run {run_id} was deleted from the tracking store {store}. "
            f"Fix: restore it first (MLFLOW_TRACKING_URI={store} mlflow runs restore --run-id {run_id}), or use another run"
        )
    return run


def check_run(store: str, run_id: str, key: str, uri_key: str):
    """Run `run_id`, which must be in `store` and not deleted; `key` names the input and `uri_key` the store's setting."""
    run = refuse_deleted(store, run_id, key)
    if run is None:
        raise ConfigError(
            f"{key}: run {run_id} does not exist in the tracking store {store}. Fix: pass a run id from that store "
            f"(mlflow ui, or mlm-compare experiment=NAME), or set {uri_key} to the store the run was logged to"
        )
    return run


def check_model(uri: str, store: str) -> None:
    """Refuse a model reference the store (or the disk) does not hold, naming what it does hold.

    `models:/NAME/VERSION|latest`, `models:/NAME@ALIAS`, `runs:/ID/...` and local folders are checked;
    anything else (a logged model's `models:/m-...`, another URI scheme) is left to MLflow.
    """
    client = MlflowClient(store)
    if m := MODEL_NAME.match(uri):
        _check_registered(client, store, uri, m["name"], m["version"], m["alias"])
    elif m := RUN_PATH.match(uri):
        check_run(store, m["run_id"], f"model={uri}", "tracking_uri")
    elif "://" not in uri and ":/" not in uri:
        _check_folder(client, uri)


def _check_registered(client: MlflowClient, store: str, uri: str, name: str, version: str | None, alias: str | None) -> None:
    try:
        model = client.get_registered_model(name)
    except MlflowException as e:
        if not _absent(e):
            raise
        raise ConfigError(
            f"model={uri}: no registered model named {name!r} in the tracking store {store} ({_names(registered_names(client))}). "
            "Fix: use one of those names (models:/NAME/latest), or set tracking_uri to the store the model was registered in"
        ) from None
    if version is not None and not (version.isdigit() or version == "latest"):
        return  # a stage (models:/NAME/Production): MLflow resolves those
    versions = [int(v.version) for v in client.search_model_versions(f"name='{name}'")]
    if not versions:
        raise ConfigError(
            f"model={uri}: {name!r} has no versions in {store}. Fix: train and register one (mlm-train), or use another model"
        )
    newest = f"models:/{name}/{max(versions)}"
    if version is not None and version != "latest" and int(version) not in versions:
        raise ConfigError(
            f"model={uri}: {name!r} has versions {spans(versions)}, not {version}. Fix: use one of them, e.g. {newest} (the newest) "
            f"or models:/{name}/latest"
        )
    if alias is not None and alias not in model.aliases:
        aliases = ", ".join(f"{a} -> {v}" for a, v in sorted(model.aliases.items())) or "none"
        raise ConfigError(
            f"model={uri}: {name!r} has no alias {alias!r} (aliases: {aliases}). Fix: use models:/{name}/latest or a version "
            f"({spans(versions)}), or set the alias in the MLflow UI (or MlflowClient().set_registered_model_alias)"
        )


def _check_folder(client: MlflowClient, uri: str) -> None:
    path = Path(uri).expanduser()
    if (path / "MLmodel").is_file():
        return
    try:
        registered = registered_names(client)
    except MlflowException:
        registered = []
    named = f"models:/{uri}/latest (registered under that name)" if uri in registered else None
    if not path.exists():
        raise ConfigError(
            f"model={uri}: is not a folder (nothing is there), nor a model URI ({MODEL_FORMS}). "
            f"Fix: {'use ' + named if named else 'pass the folder of a logged model (it holds an MLmodel file)'}, "
            f"or a registered model: models:/NAME/latest ({_names(registered)})"
        )
    what = "a file" if path.is_file() else "a folder without an MLmodel file"
    raise ConfigError(
        f"model={uri}: is {what}, not a logged model. Fix: pass the folder that holds MLmodel "
        f"(mlflow artifacts download -u models:/NAME/latest -d DIR), or a registered model{': ' + named if named else ''}"
    )


def why_unloadable(uri: str, store: str) -> str | None:
    """After `uri` failed to load: what the store says about it, when it can tell (a run that logged no such model)."""
    m = RUN_PATH.match(uri)
    if not m:
        return None
    try:
        run = find_run(store, m["run_id"])
        if run is None:
            return None
        models = MlflowClient(store).search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
    except MlflowException:
        return None
    path, run_id = m["path"] or "", run.info.run_id
    logged = sorted({lm.name for lm in models})
    if path in logged:
        return None  # it is there: the failure is another one
    if run.info.status == "RUNNING" and not logged:
        return (
            f"model={uri}: run {run_id} is still RUNNING and logged no model yet. Fix: wait until it finishes, or use models:/NAME/latest"
        )
    what = f"ended {run.info.status}" if run.info.status != "RUNNING" else "is still RUNNING"
    if not logged:
        return (
            f"model={uri}: run {run_id} {what} and logged no model. Fix: use a model a finished run registered (models:/NAME/latest), "
            f"or train it again once what ended it is fixed (mlm-train rerun={run_id} with the changed settings)"
        )
    found = ", ".join(repr(n) for n in logged)
    return f"model={uri}: run {run_id} {what} and logged no model {path!r} (it logged {found}). Fix: use runs:/{run_id}/{logged[0]}"
