"""Write an exported folder: everything checked before the first byte, built beside the target, then moved into place."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from mlm_lab.errors import ConfigError
from mlm_lab.export.gguf_export import check_gguf, gguf_architecture, write_gguf
from mlm_lab.export.hf_model import architecture, hf_config, to_hf_state
from mlm_lab.export.hf_tokenizer import hf_tokenizer, write_hf_tokenizer
from mlm_lab.export.model_card import model_card
from mlm_lab.export.source import Source

FORMATS = ("hf", "gguf")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse to replace a folder that holds anything, unless asked: nothing already written is lost by accident."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} is a file. Fix: pass a folder path (it is created)")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"out: {out} already holds files. Fix: pass a new folder, or overwrite=true to replace its contents")


def generation_config(source: Source) -> dict:
    """generation_config.json from the model's generation defaults (temperature 0 is greedy decoding)."""
    tok, defaults = source.predictor.tokenizer, source.predictor.defaults
    out = {"bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id}
    if defaults.get("max_new_tokens"):
        out["max_new_tokens"] = defaults["max_new_tokens"]
    temperature = defaults.get("temperature")
    if temperature is not None and temperature > 0:
        out.update(do_sample=True, temperature=temperature)
        out.update({k: defaults[k] for k in ("top_k", "top_p") if defaults.get(k) is not None})
    else:
        out["do_sample"] = False
    return out


def _write_hf(source: Source, tmp: Path) -> list[str]:
    from safetensors.torch import save_file

    model, tok = source.predictor.model, source.predictor.tokenizer
    config = hf_config(model.config, tok.bos_id, tok.eos_id, tok.pad_id)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    save_file(to_hf_state(model.config, model.state_dict()), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "generation_config.json").write_text(json.dumps(generation_config(source), indent=2))
    files = ["config.json", "model.safetensors", "generation_config.json"]
    return files + write_hf_tokenizer(tok, tmp, model.config.context_length)


def _readable(folder: Path) -> None:
    """The permissions of a folder made with mkdir (temporary folders and files are private to their owner)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def export(source: Source, fmt: str, out: str | Path, dtype: str = "f32", overwrite: bool = False) -> list[str]:
    """Write `source` to the folder `out` in `fmt` (hf or gguf); returns the file names."""
    out = Path(out)
    model, tok = source.predictor.model, source.predictor.tokenizer
    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r} is not an export format. Fix: format=hf (transformers) or format=gguf (llama.cpp)")
    arch = architecture(model.config) if fmt == "hf" else gguf_architecture(model.config)
    if fmt == "hf":
        hf_tokenizer(tok)  # a tokenizer without a Hugging Face form is refused here, before any file
    else:
        check_gguf(model.config, tok, dtype)
    check_out(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        tmp = Path(tmp)
        if fmt == "hf":
            files = _write_hf(source, tmp)
        else:
            write_gguf(model, tok, tmp / "model.gguf", dtype, name=str(source.config.get("name", "mlm_lab")))
            files = ["model.gguf"]
        card = model_card(source, fmt, str(out), arch, files + ["README.md"])
        (tmp / "README.md").write_text(card, encoding="utf-8")
        files.append("README.md")
        _readable(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        tmp.mkdir()  # TemporaryDirectory removes its folder on exit; leave it an empty one to remove
    return files
