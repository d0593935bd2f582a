"""`mlm-export`: a logged or registered model as a Hugging Face folder (transformers) or a GGUF file (llama.cpp).

mlm-export model=models:/cervantes@champion format=hf out=exported/cervantes
mlm-export model=models:/tinystories_llama@champion format=gguf dtype=f16 out=exported/tinystories_gguf
"""

import logging
import sys

import hydra
from omegaconf import DictConfig

from mlm_lab.apps.common import check_overrides, conf_dir, exit_on_config_error
from mlm_lab.errors import ConfigError

log = logging.getLogger(__name__)
EXTRA = {"hf": ("transformers", "safetensors", "tokenizers"), "gguf": ("gguf",)}


def require_extra(fmt: str) -> None:
    """Name the extra to install when a format's packages are missing, before any model is loaded."""
    import importlib.util

    missing = [m for m in EXTRA.get(fmt, ()) if importlib.util.find_spec(m) is None]
    if fmt == "hf":
        missing = [m for m in missing if m != "transformers"]  # only the consumer needs transformers; writing does not
    if missing:
        raise ConfigError(
            f"format={fmt}: the packages {missing} are not installed. Fix: pip install 'mlm-lab[export]' "
            "(or pip install -e '.[export]' in a clone)"
        )


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="export")
@exit_on_config_error
def app(cfg: DictConfig) -> list[str]:
    from mlm_lab.export.folder import FORMATS, export
    from mlm_lab.export.source import load_source

    if cfg.format not in FORMATS:
        raise ConfigError(f"format: {cfg.format!r} is not an export format. Fix: format=hf (transformers) or format=gguf (llama.cpp)")
    require_extra(cfg.format)
    source = load_source(str(cfg.model), cfg.tracking_uri)
    files = export(source, cfg.format, cfg.out, dtype=cfg.dtype, overwrite=cfg.overwrite)
    print(f"wrote {cfg.out}: {', '.join(files)}")
    return files


def main() -> None:
    """The `mlm-export` command; an unknown key exits 2 naming the closest keys, before Hydra runs."""
    check_overrides(conf_dir() / "apps", "export", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
