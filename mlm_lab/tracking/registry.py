"""The model a run registers: logged as a pyfunc from code, with its signature and pinned requirements, and loaded back.

Logged first, loaded back from the store and checked against the trained model's answers, and only then
registered: a version never exists for a model that failed its reload check.
"""

import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import AnyType

from mlm_lab.errors import ConfigError
from mlm_lab.tracking import champion, lookup

log = logging.getLogger(__name__)
ENTRY = Path(__file__).with_name("pyfunc_entry.py")  # logged "from code": nothing is pickled
PINNED = ("torch", "mlflow", "hydra-core", "omegaconf", "numpy", "pandas")  # what loading the model imports
# One named column: {"inputs": {"prompt": [...]}} and {"dataframe_records": [{"prompt": ...}]} over HTTP, {"prompt":
# [...]} or a DataFrame in Python; without the name MLflow's schema check refuses (HTTP 400). Its values must be
# strings, which `predict` checks (400 naming the value otherwise): declared as "string", MLflow's HTTP parser would
# turn {"inputs": {"prompt": [5]}} into the prompt "5" before predict could see it. Versions logged before issue 18
# keep their unnamed string column.
INPUT = "prompt"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(AnyType(), INPUT)]),
    outputs=Schema([ColSpec("string")]),
    params=ParamSchema(
        [
            ParamSpec("max_new_tokens", "long", None),
            ParamSpec("temperature", "double", None),
            ParamSpec("top_k", "long", None),
            ParamSpec("top_p", "double", None),
            ParamSpec("seed", "long", None),
            ParamSpec("num_samples", "long", None),
            ParamSpec("stop", "string", [], shape=(-1,)),  # an empty list: no stop strings
            ParamSpec("mode", "string", "generate"),  # "score": loss, perplexity, bits per byte of each input text
            ParamSpec("stride", "long", None),  # with mode=score: scoring window stride (null: context length)
        ]
    ),
)


def requirements() -> list[str]:
    """pip pins of the installed versions the model needs (a local `+cpu` suffix dropped; unpinned when not installed)."""
    pins = []
    for dist in PINNED:
        try:
            pins.append(f"{dist}=={version(dist).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(dist)
    return pins


STEP_TAG = "step"  # a version's tag: the training step its weights are from


class ReloadCheckFailed(Exception):
    """The logged model, loaded back from the store, answers unlike the trained model: it is not registered."""

    error_code = "INVALID_STATE"  # the outbox drops it rather than retrying it (sending again cannot help)


def log_model(op: dict) -> str:
    """Log `op["model_dir"]` as a pyfunc model of the active run; returns the logged model's URI (not registered yet)."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(ENTRY),
        artifacts={"model_dir": op["model_dir"]},
        signature=SIGNATURE,
        input_example=pd.DataFrame({INPUT: op["input_example"]}),
        pip_requirements=requirements(),
    )
    return info.model_uri


def registered_version(run_id: str, name: str, step: int | None) -> str | None:
    """`models:/NAME/VERSION` of `name` registered from run `run_id` after training step `step` (an earlier try's), else None.

    A run resumed to train further registers its new weights as a new version; one resumed only to finish
    (its registration was cut short after the version was created) finds the version it made.
    """
    versions = mlflow.MlflowClient().search_model_versions(f"name='{name}' and run_id='{run_id}'")
    same = [int(v.version) for v in versions if v.tags.get(STEP_TAG) == str(step)]
    return f"models:/{name}/{max(same)}" if same else None


def check_reload(model_uri: str, prompts: list[str], expected: list[str]) -> None:
    """The model at `model_uri`, loaded from the store alone, answers `prompts` with `expected` (what the trained model said)."""
    got = load_registered(model_uri)[0].complete(prompts)
    if got != expected:
        raise ReloadCheckFailed(f"{model_uri} reloaded answers {got} for {prompts}, but the trained model answered {expected}")


def register_version(model_uri: str, name: str, step: int | None, info: dict | None = None) -> str:
    """Register a logged (and checked) model, trained for `step` steps, as a new version of `name`: `models:/NAME/VERSION`.

    `info` (from the runner) tags and describes the version and says its objective, which moves `champion` to it
    when it beats the current champion.
    """
    client = mlflow.MlflowClient()
    if model_uri.startswith(f"models:/{name}/"):
        uri = model_uri  # registered by an earlier try of this run: described and crowned again (both idempotent)
    else:
        uri = f"models:/{name}/{mlflow.register_model(model_uri, name, tags={STEP_TAG: str(step)}).version}"
    if info:
        version = uri.rsplit("/", 1)[1]
        champion.describe(client, name, version, info)
        if champion.crown(client, name, version, info.get("value"), info.get("direction", "minimize")):
            log.info("%s is the champion: models:/%s@%s", uri, name, champion.CHAMPION)
        else:
            best = champion.champion(client, name)
            log.info(
                "%s does not beat the champion (version %s); models:/%s@%s stays",
                uri,
                best.version if best else "?",
                name,
                champion.CHAMPION,
            )
    return uri


def register_into(run_id: str, op: dict) -> str:
    """A model that waited in the outbox or a journal: logged into its run, checked (when `op` says how) and registered.

    Called from another thread or process; a version this run registered already is not registered twice.
    """
    done = registered_version(run_id, op["name"], op.get("step"))
    if done is not None:
        return done
    with mlflow.start_run(run_id=run_id):  # MLflow's active-run stack is per thread: the training thread's is untouched
        logged = log_model(op)
    if op.get("check"):
        check_reload(logged, op["check"]["prompts"], op["check"]["expected"])
    return register_version(logged, op["name"], op.get("step"), op.get("version"))


def load_registered(uri: str, tracking_uri: str | None = None):
    """Load a logged mlm_lab model (`models:/NAME/latest`, `runs:/ID/model`, a local folder) -> (predictor, config)."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    store = mlflow.get_tracking_uri()
    try:
        lookup.check_model(uri, store)  # a name, version, alias, run or folder that is not there: named, with what is
        loaded = mlflow.pyfunc.load_model(uri)
    except (mlflow.exceptions.MlflowException, OSError) as e:
        raise ConfigError(
            lookup.why_unloadable(uri, store)
            or f"model: cannot load {uri} from the tracking store {store} ({str(e).splitlines()[0][:300]}). Fix: check the name and "
            "version (mlflow ui, or `mlm-compare experiment=NAME`), or point tracking_uri at the store the model was registered in"
        ) from None
    python_model = loaded.unwrap_python_model()
    return python_model.predictor, python_model.config


def source_run(uri: str) -> tuple[str | None, dict]:
    """(run id, final metrics) of the run that logged the model at `uri`; (None, {}) when the store does not say."""
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
        return run_id, (dict(mlflow.get_run(run_id).data.metrics) if run_id else {})
    except (mlflow.exceptions.MlflowException, OSError):
        return None, {}
