"""A run's params (the flattened config) and the git state it is tagged with."""

import subprocess

from mlm_lab.tracking.params import MAX_PARAM_LENGTH, flatten, git_state


def test_flatten_uses_dotted_keys_for_every_leaf():
    flat = flatten({"model": {"d_model": 128, "betas": [0.9, 0.98]}, "seed": 0, "empty": {}, "x": None})
    assert flat == {"model.d_model": "128", "model.betas": "[0.9, 0.98]", "seed": "0", "empty": "{}", "x": "None"}


def test_long_param_values_are_cut_to_mlflows_limit():
    assert len(flatten({"a": "x" * 10000})["a"]) == 6000 == MAX_PARAM_LENGTH


def test_nested_keys_keep_their_whole_path():
    assert flatten({"a": {"b": {"c": 1}}}, prefix="cfg.") == {"cfg.a.b.c": "1"}


def git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True)


def test_git_state_gives_the_commit_and_whether_the_tree_is_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-qm", "a")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "false"}
    (tmp_path / "a.txt").write_text("changed")
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "true"}


def test_git_state_outside_a_repository_is_unknown(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}
    assert git_state(tmp_path / "gone") == {"git_commit": "unknown", "git_dirty": "unknown"}  # cwd missing: an OSError
