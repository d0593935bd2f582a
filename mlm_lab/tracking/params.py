"""What a run records about its setting at the start: the config as flat params, and the code's git state."""

import shlex
import subprocess
from pathlib import Path

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """Dotted keys for every leaf of a nested dict (`{"model": {"d_model": 128}}` -> `model.d_model`)."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def git_state(root: str | Path | None = None) -> dict[str, str]:
    """Commit and dirty flag of the repository at `root` (default: the one this package runs from), when it is one."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    if commit.returncode != 0:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit.stdout.strip(), "git_dirty": str(bool(status.stdout.strip())).lower()}


def source_tags(argv: list[str]) -> dict[str, str]:
    """The command as tags: `command` (argv, credentials redacted) and the UI's Source column (`mlflow.source.*`).

    The UI shows a LOCAL source's name only after its last "/" (a file name: of a command, a fragment of its last
    path); a JOB source without Databricks' job tags is shown whole. The program is named by its file name
    (`mlm-train`, or `train.py` under `python -m`).
    """
    from mlm_lab.tracking.redact import redact_overrides

    redacted = redact_overrides(argv)
    shown = [Path(redacted[0]).name, *redacted[1:]] if redacted else []
    return {"command": shlex.join(redacted), "mlflow.source.name": shlex.join(shown), "mlflow.source.type": "JOB"}
