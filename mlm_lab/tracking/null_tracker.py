"""A tracker that records nothing: for DDP ranks other than 0, and `tracking=none` (e.g. to measure logging overhead)."""

import contextlib


class NullTracker:
    """The MLflow tracker's interface, doing nothing; nothing is registered."""

    keeps_runs = False  # nothing to resume, rerun or reload from
    register_as = None
    resolved_uri = "none"
    experiment = "none"

    def __init__(self):
        self.run_id: str | None = None

    @contextlib.contextmanager
    def run(self, config: dict, overrides: list[str], resume_run_id: str | None = None, resume_note: str = "", **options):
        self.run_id = resume_run_id
        yield self

    def check_reachable(self) -> None:
        pass

    def caught_up(self, timeout: float = 60.0) -> bool:
        return True

    def run_exists(self, run_id: str) -> bool:
        return False  # no store: `rerun=` and `resume=<run id>` then say so with their fix

    def download_checkpoint(self, run_id: str, directory):
        raise FileNotFoundError("tracking=none keeps no runs to fetch checkpoints from; pass the checkpoint file")

    def metric_history(self, names: list[str]) -> dict:
        return {}

    def log_metrics(self, metrics: dict, step: int) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        pass

    def set_tag(self, key: str, value: str) -> None:
        pass

    def set_tags(self, tags: dict) -> None:
        pass
