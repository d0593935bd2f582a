"""Where mlm_lab's Hydra configs live: a leaf module (no torch, no mlflow), so apps that refuse bad input start fast
and the tracking package can read config groups without importing the schemas that import it."""

from pathlib import Path


def conf_dir() -> Path:
    """`mlm_lab/conf` inside an installed wheel, else `conf/` beside the package in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"mlm_lab's conf/ folder was found neither in {here} nor in {here.parent}; reinstall mlm-lab")
