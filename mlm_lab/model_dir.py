"""The exported model folder: everything a registered model needs to generate, with no pickles.

Files: `model.pt` (state dict, read with weights_only=True), `model.json` (the `_target_` and
arguments that rebuild the module), `tokenizer.json`, `text_format.json`, `generation.json`
(default generation parameters) and `config.yaml` (the run's resolved config).
"""

import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from mlm_lab.instantiate import build
from mlm_lab.models.loading import load_weights
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers import load_tokenizer
from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint


def model_spec(model) -> dict:
    """The `_target_` config that rebuilds `model` (saved as model.json and in checkpoints)."""
    return {"_target_": model.builder, **model.model_args()}


def write_model_dir(directory, model, tokenizer, text_format, generation_defaults: dict, config: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(model_spec(model), indent=2))
    save_checkpoint({k: v.detach().cpu() for k, v in model.state_dict().items()}, directory / "model.pt")
    tokenizer.save(directory)
    (directory / "text_format.json").write_text(json.dumps(text_format.to_config(), indent=2))
    (directory / "generation.json").write_text(json.dumps(generation_defaults, indent=2))
    OmegaConf.save(OmegaConf.create(config), directory / "config.yaml")
    return directory


def load_model_dir(directory, device: str | torch.device = "cpu") -> tuple[Predictor, dict]:
    """Rebuild the predictor saved by `write_model_dir`; also returns the run's config."""
    directory = Path(directory)
    missing = [
        f for f in ("model.json", "model.pt", "tokenizer.json", "text_format.json", "generation.json") if not (directory / f).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"{directory} is not an mlm_lab model folder: missing {', '.join(missing)}")
    spec = json.loads((directory / "model.json").read_text())
    model = build(spec, "model")
    load_weights(model, load_checkpoint(directory / "model.pt"), source_config=spec)
    model.to(device).eval()
    tokenizer = load_tokenizer(directory)
    text_format = build(json.loads((directory / "text_format.json").read_text()), "text_format")
    defaults = json.loads((directory / "generation.json").read_text())
    config_path = directory / "config.yaml"
    config = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.is_file() else {}
    return Predictor(model, tokenizer, text_format, defaults=defaults), config
