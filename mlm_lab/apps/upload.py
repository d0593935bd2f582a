"""`mlm-upload`: send a run's journal to its tracking store, when the store was down as the run ended.

mlm-upload journal=outputs/DATE/TIME/tracking_journal.jsonl
mlm-upload journal=outputs/DATE/TIME tracking_uri=http://127.0.0.1:5000
"""

import sys

import hydra
from omegaconf import DictConfig

from mlm_lab.apps.common import check_overrides, conf_dir, exit_on_config_error


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="upload")
@exit_on_config_error
def app(cfg: DictConfig) -> dict[str, int]:
    from mlm_lab.tracking.replay import replay

    sent = replay(cfg.journal, cfg.tracking_uri)
    print("sent: " + (", ".join(f"{n} {op}" for op, n in sorted(sent.items())) or "nothing (the store had every write)"))
    return sent


def main() -> None:
    """The `mlm-upload` command: an override of a key the config lacks exits 2 naming the closest keys, before Hydra runs."""
    check_overrides(conf_dir() / "apps", "upload", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
