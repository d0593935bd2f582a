"""output_dirs.py: a folder per process, claimed with os.mkdir; -1, -2... when another process has the name."""

import multiprocessing

from omegaconf import OmegaConf

from mlm_lab import output_dirs
from tests.conftest import compose_config


def test_a_taken_name_gets_the_next_free_suffix(tmp_path):
    base = str(tmp_path / "outputs" / "day" / "time")
    assert [output_dirs.claim(base) for _ in range(3)] == [base, f"{base}-1", f"{base}-2"]
    assert (tmp_path / "outputs" / "day" / "time-2").is_dir()


def test_one_process_claims_once_per_kind_and_working_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(output_dirs, "_claimed", {})
    monkeypatch.chdir(tmp_path)
    base = str(tmp_path / "run")
    assert output_dirs.unique_dir("run", base) == output_dirs.unique_dir("run", base) == base
    assert output_dirs.unique_dir("run", f"{base}-a-second-later") == base  # a copy that resolved ${now} again
    assert output_dirs.unique_dir("sweep", str(tmp_path / "sweep")) == str(tmp_path / "sweep")
    monkeypatch.setattr(output_dirs, "_claimed", {})  # what another process sees
    assert output_dirs.unique_dir("run", base) == f"{base}-1"


def claim_in_a_process(base: str) -> str:
    return output_dirs.claim(base)


def test_processes_claiming_one_name_at_once_get_distinct_folders(tmp_path):
    base = str(tmp_path / "same-second")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        folders = pool.map(claim_in_a_process, [base] * 8)
    assert sorted(folders) == sorted([base] + [f"{base}-{n}" for n in range(1, 8)])


def test_the_config_names_hydras_folders_with_it_and_resolves_each_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(output_dirs, "_claimed", {})
    cfg = compose_config([], return_hydra_config=True)
    assert OmegaConf.to_container(cfg.hydra.run)["dir"].startswith("${unique_dir:run,outputs/${now:")
    first = cfg.hydra.run.dir
    assert cfg.hydra.run.dir == first and OmegaConf.masked_copy(cfg, "hydra").hydra.run.dir == first  # Hydra's copies
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("outputs/*/*")] == [first]
    assert not (tmp_path / "multirun").exists()  # the sweep folder is claimed only when a sweep reads it
