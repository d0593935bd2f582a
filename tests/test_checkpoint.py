import pickle

import pytest
import torch

from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_and_no_temp_files_left(tmp_path):
    state = {"model": {"w": torch.arange(6.0)}, "step": 3, "config": {"a": [1, 2], "b": None}}
    path = save_checkpoint(state, tmp_path / "ckpt" / "final.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and loaded["step"] == 3 and loaded["config"] == state["config"]
    assert [p.name for p in path.parent.iterdir()] == ["final.pt"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = save_checkpoint({"step": 1}, tmp_path / "latest.pt")

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint({"step": 2, "bad": Unsaveable()}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


class Exploit:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": Exploit()}, f)
    with pytest.raises(ValueError, match="could not be read safely"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpointer_keeps_the_best_k_in_the_monitored_direction(tmp_path):
    from mlm_lab.training.checkpoint import Checkpointer

    keeper = Checkpointer(tmp_path, "val/exact_match", "max", keep_best=2, patience=2)
    for step, value in [(1, 0.2), (2, 0.5), (3, 0.4), (4, 0.1), (5, 0.9)]:
        keeper.observe({"val/exact_match": value}, step, lambda s=step: {"step": s})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-step0000002.pt", "best-step0000005.pt"]
    assert [e["step"] for e in keeper.best] == [5, 2] and keeper.best_value == 0.9 and not keeper.should_stop
    keeper.observe({"val/exact_match": 0.9}, 6, dict)
    keeper.observe({"val/exact_match": 0.3}, 7, dict)
    assert keeper.should_stop  # two evaluations without beating 0.9
    restored = Checkpointer(tmp_path, "val/exact_match", "max", keep_best=2, patience=2)
    restored.load_state_dict(keeper.state_dict())
    assert restored.should_stop and restored.best == keeper.best


def test_a_non_finite_value_is_never_best(tmp_path):
    from mlm_lab.training.checkpoint import Checkpointer

    keeper = Checkpointer(tmp_path, "val/loss", "min", keep_best=1, patience=None)
    keeper.observe({"val/loss": float("nan")}, 1, dict)
    assert keeper.best == [] and list(tmp_path.iterdir()) == []
