"""The model to export, taken the way the other apps take one, or from a checkpoint file."""

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlm_lab.errors import ConfigError
from mlm_lab.predictor import Predictor

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Source:
    uri: str  # what the user passed
    predictor: Predictor
    config: dict  # the run's resolved config
    text_format: dict  # the task's text format as its _target_ config
    run_id: str | None = None
    metrics: dict = field(default_factory=dict)  # the run's final metrics, when the store has them

    @property
    def plain_prompt(self) -> str:
        """The run's first sample prompt as a user writes it (the registered model applies the text format itself)."""
        prompts = (self.config.get("data") or {}).get("prompts") or []
        return str(prompts[0]) if prompts else "12+34=" if "Arithmetic" in self.text_format.get("_target_", "") else "Once upon a time"

    @property
    def example_prompt(self) -> str:
        """A prompt as the model must see it (the task's text format applied): the run's first sample prompt."""
        return self.predictor.text_format.prompt_to_model(self.plain_prompt)


def _from_checkpoint(path: Path) -> Source:
    from mlm_lab.instantiate import build
    from mlm_lab.models.loading import load_weights
    from mlm_lab.tokenizers import tokenizer_from_state
    from mlm_lab.training.checkpoint import load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
        spec, state, config = checkpoint["model_config"], checkpoint["model"], checkpoint["config"]
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(
            f"model: {path} is not a checkpoint written by an mlm_lab run ({e}). "
            "Fix: pass outputs/DATE/TIME/checkpoints/final.pt (or latest.pt, best-*.pt), a model folder, or models:/NAME/latest"
        ) from None
    model = build(spec, "model")
    load_weights(model, state, source_config=spec)
    model.eval()
    tokenizer = tokenizer_from_state(checkpoint["tokenizer"])
    task = build(config["data"], "data")  # a task is cheap until setup: it gives the text format
    # checkpoints written before issue 17 lack the generation defaults (the task knows them only after setup)
    predictor = Predictor(model, tokenizer, task.text_format, checkpoint.get("generation") or {})
    return Source(str(path), predictor, config, task.text_format.to_config(), checkpoint.get("run_id"))


def load_source(uri: str, tracking_uri: str | None = None) -> Source:
    """A registered or logged model, a checkpoint logged as a model (models:/m-...), a run id, a model folder or a checkpoint (.pt)."""
    path = Path(uri)
    if uri.endswith(".pt"):
        if not path.is_file():
            raise ConfigError(f"model: the checkpoint {uri} does not exist. Fix: pass the path of a .pt a run wrote")
        return _from_checkpoint(path)
    from mlm_lab.tracking.checkpoint_models import model_id_of
    from mlm_lab.tracking.registry import load_registered, source_run

    if model_id_of(uri) is not None:  # a checkpoint logged as a model (a pyfunc model's id is loaded below)
        from mlm_lab.tracking.mlflow_tracker import MlflowTracker

        try:
            return _from_checkpoint(MlflowTracker(uri=tracking_uri).fetch_checkpoint(uri, tempfile.mkdtemp(prefix="mlm_lab_export_"))[0])
        except FileNotFoundError:
            pass

    ref = f"runs:/{uri}/model" if RUN_ID.match(uri) else uri
    predictor, config = load_registered(ref, tracking_uri)
    text_format = predictor.text_format.to_config()
    run_id, metrics = (None, {}) if path.is_dir() else source_run(ref)
    return Source(uri, predictor, config, text_format, run_id, metrics)
