"""A tracker that records nothing: for DDP ranks other than 0, and `tracking=none` (e.g. to measure logging overhead)."""

import contextlib
from pathlib import Path

NO_RUNS = "tracking=none keeps no runs"


class NullTracker:
    """The `Tracker` protocol, doing nothing; nothing is registered and no run can be fetched back."""

    keeps_runs = False  # nothing to resume, rerun or reload from
    register_as = None
    resolved_uri = "none"
    experiment = "none"

    def __init__(self):
        self.run_id: str | None = None

    @contextlib.contextmanager
    def run(
        self,
        config: dict,
        overrides: list[str],
        resume_run_id: str | None = None,
        resume_note: str = "",
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        journal_dir: str | Path | None = None,
    ):
        """No run: the body runs as it is (a resumed checkpoint keeps its run id)."""
        self.run_id = resume_run_id
        yield self

    def ui_link(self) -> str | None:
        """None: nothing to show."""
        return None

    def check_reachable(self, timeout: float = 10.0) -> None:
        """There is no store to reach."""

    def caught_up(self, timeout: float = 60.0) -> bool:
        """Always: nothing is waiting."""
        return True

    def run_exists(self, run_id: str) -> bool:
        """Never: `rerun=` and `resume=<run id>` then say so with their fix."""
        return False

    def download_checkpoint(self, run_id: str, directory: str | Path) -> Path:
        """Refused: there is no run to fetch from."""
        raise FileNotFoundError(f"{NO_RUNS} to fetch checkpoints from; pass the checkpoint file")

    def fetch_checkpoint(self, ref: str, directory: str | Path) -> tuple[Path, dict[str, str]]:
        """Refused: there is no store to fetch from."""
        raise FileNotFoundError(f"{NO_RUNS} to fetch logged model {ref} from; set tracking.uri to the store that holds it")

    def log_checkpoint(
        self, path: str | Path, name: str, kind: str, state: str, step: int, metrics: dict[str, float], metrics_step: int
    ) -> None:
        """Dropped (the file stays on disk)."""

    def logged_overrides(self, run_id: str) -> list[str]:
        """Refused: there is no run to read from."""
        raise FileNotFoundError(f"{NO_RUNS} to read the overrides of run {run_id} from; set tracking.uri to the store that holds it")

    def metric_history(self, names: list[str]) -> dict[str, list[tuple[int, float]]]:
        """No points for any metric."""
        return {name: [] for name in names}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Dropped."""

    def log_inputs(self, datasets: list[dict]) -> None:
        """Dropped."""

    def log_text(self, text: str, artifact_file: str) -> None:
        """Dropped."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Dropped."""

    def set_tag(self, key: str, value: str) -> None:
        """Dropped."""

    def set_tags(self, tags: dict[str, str]) -> None:
        """Dropped."""

    def log_model(
        self, model_dir: str | Path, input_example: list[str], prompts: list[str], expected: list[str], step: int, info: dict | None = None
    ) -> str | None:
        """Nothing is logged or registered: None."""
        return None

    def check_reload(self, model_uri: str, prompts: list[str], expected: list[str]) -> None:
        """Never called: nothing was logged."""

    def register_version(self, model_uri: str, step: int, info: dict | None = None) -> str:
        """Never called: nothing was logged."""
        return model_uri

    def run_status(self, run_id: str) -> str | None:
        """Unknown: there is no store."""
        return None
