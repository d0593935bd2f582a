"""The exported model folder: everything a registered model needs to generate, with no pickles.

Files: `model.safetensors` (the state dict: tensors only), `model.json` (the `_target_` and
arguments that rebuild the module), `tokenizer.json`, `text_format.json`, `generation.json`
(default generation parameters) and `config.yaml` (the run's resolved config). Folders written before
safetensors hold `model.pt` (read with weights_only=True) instead, and still load.
"""

import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from mlm_lab.instantiate import build
from mlm_lab.models.loading import load_weights
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers import load_tokenizer
from mlm_lab.training.checkpoint import load_checkpoint

WEIGHTS = "model.safetensors"
LEGACY_WEIGHTS = "model.pt"  # model folders written before safetensors


def save_weights(state: dict[str, torch.Tensor], path: Path) -> Path:
    """The state dict as safetensors, a tied tensor (the head that is the token embedding) stored once, under its first key."""
    from safetensors.torch import save_file

    seen, out = set(), {}
    for key, tensor in state.items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            out[key] = tensor.detach().cpu().contiguous()
    save_file(out, str(path), metadata={"format": "pt"})
    return path


def load_safetensors(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The saved state, with the keys `save_weights` left out for being tied to another filled back in."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    first = {}
    for key, tensor in own.items():
        first.setdefault(tensor.data_ptr(), key)
    for key, tensor in own.items():
        if key not in state and first[tensor.data_ptr()] in state:
            state[key] = state[first[tensor.data_ptr()]]
    return state


def model_spec(model) -> dict:
    """The `_target_` config that rebuilds `model` (saved as model.json and in checkpoints)."""
    return {"_target_": model.builder, **model.model_args()}


def write_model_dir(directory, model, tokenizer, text_format, generation_defaults: dict, config: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(model_spec(model), indent=2))
    save_weights(model.state_dict(), directory / WEIGHTS)
    tokenizer.save(directory)
    (directory / "text_format.json").write_text(json.dumps(text_format.to_config(), indent=2))
    (directory / "generation.json").write_text(json.dumps(generation_defaults, indent=2))
    OmegaConf.save(OmegaConf.create(config), directory / "config.yaml")
    return directory


def load_model_dir(directory, device: str | torch.device = "cpu") -> tuple[Predictor, dict]:
    """Rebuild the predictor saved by `write_model_dir`; also returns the run's config."""
    directory = Path(directory)
    weights = directory / WEIGHTS if (directory / WEIGHTS).is_file() else directory / LEGACY_WEIGHTS
    missing = [f for f in ("model.json", "tokenizer.json", "text_format.json", "generation.json") if not (directory / f).is_file()]
    missing += [] if weights.is_file() else [f"{WEIGHTS} (or {LEGACY_WEIGHTS})"]
    if missing:
        raise FileNotFoundError(f"{directory} is not an mlm_lab model folder: missing {', '.join(missing)}")
    spec = json.loads((directory / "model.json").read_text())
    model = build(spec, "model")
    state = load_safetensors(weights, model) if weights.name == WEIGHTS else load_checkpoint(weights)
    load_weights(model, state, source_config=spec)
    model.to(device).eval()
    tokenizer = load_tokenizer(directory)
    text_format = build(json.loads((directory / "text_format.json").read_text()), "text_format")
    defaults = json.loads((directory / "generation.json").read_text())
    config_path = directory / "config.yaml"
    config = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.is_file() else {}
    return Predictor(model, tokenizer, text_format, defaults=defaults), config
