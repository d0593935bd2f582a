"""The model a run registers: logged as a pyfunc from code, with its signature and pinned requirements, and loaded back."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from mlm_lab.errors import ConfigError

ENTRY = Path(__file__).with_name("pyfunc_entry.py")  # logged "from code": nothing is pickled
PINNED = ("torch", "mlflow", "hydra-core", "omegaconf", "numpy", "pandas")  # what loading the model imports
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string")]),
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


def log_model(op: dict) -> str:
    """Log `op["model_dir"]` as a pyfunc model of the active run, registered as `op["name"]`: `models:/NAME/VERSION`."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(ENTRY),
        artifacts={"model_dir": op["model_dir"]},
        signature=SIGNATURE,
        input_example=op["input_example"],
        pip_requirements=requirements(),
        registered_model_name=op["name"],
    )
    return f"models:/{op['name']}/{info.registered_model_version}"


def register_into(run_id: str, op: dict) -> str:
    """A model that waited in the outbox or a journal: logged into its run from another thread or process."""
    with mlflow.start_run(run_id=run_id):  # MLflow's active-run stack is per thread: the training thread's is untouched
        return log_model(op)


def load_registered(uri: str, tracking_uri: str | None = None):
    """Load a logged mlm_lab model (`models:/NAME/latest`, `runs:/ID/model`, a local folder) -> (predictor, config)."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except (mlflow.exceptions.MlflowException, OSError) as e:
        store = mlflow.get_tracking_uri()
        raise ConfigError(
            f"model: cannot load {uri} from the tracking store {store} ({str(e).splitlines()[0][:300]}). Fix: check the name and "
            "version (mlflow ui, or `mlm-compare experiment=NAME`), or point tracking_uri at the store the model was registered in"
        ) from None
    python_model = loaded.unwrap_python_model()
    return python_model.predictor, python_model.config
