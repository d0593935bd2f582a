"""`mlm-generate`: complete prompts with a logged or registered model.

mlm-generate model=models:/arithmetic@champion prompt="12+34="
"""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from mlm_lab.apps.common import check_overrides, conf_dir, exit_on_config_error, fix_argv


@hydra.main(version_base="1.3", config_path=str(conf_dir() / "apps"), config_name="generate")
@exit_on_config_error
def app(cfg: DictConfig) -> list[str]:
    from mlm_lab.tracking.registry import load_registered

    predictor, _ = load_registered(cfg.model, cfg.tracking_uri)
    prompts = OmegaConf.to_container(cfg.prompt) if OmegaConf.is_list(cfg.prompt) else [cfg.prompt]
    completions = predictor.complete(
        [str(p) for p in prompts],
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        seed=cfg.seed,
        num_samples=cfg.num_samples,
        stop=OmegaConf.to_container(cfg.stop) if OmegaConf.is_list(cfg.stop) else cfg.stop,
        use_cache=cfg.use_cache,
    )
    print(cfg.separator.join(completions))
    return completions


def main() -> None:
    """The `mlm-generate` command: prompts quoted for Hydra; an unknown key exits 2 naming the closest keys, before Hydra runs."""
    fix_argv()
    check_overrides(conf_dir() / "apps", "generate", sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
