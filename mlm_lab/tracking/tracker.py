"""What the runner, the trainer and the apps may ask of a tracker; `MlflowTracker` and `NullTracker` provide it.

Code that must behave differently without a store asks `keeps_runs`, never which class it holds.
"""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Tracker(Protocol):
    """Where a run's params, metrics, artifacts and model go (see MlflowTracker for what each call does)."""

    keeps_runs: bool  # runs can be resumed, rerun and reloaded from this tracker's store
    experiment: str
    register_as: str | None  # the registered model's name; None registers nothing
    run_id: str | None  # the active (or last) run's id

    @property
    def resolved_uri(self) -> str:
        """The store this tracker writes to, as a URI (`none` without one)."""
        ...

    def run(
        self,
        config: dict,
        overrides: list[str],
        resume_run_id: str | None = None,
        resume_note: str = "",
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        journal_dir: str | Path | None = None,
    ) -> AbstractContextManager["Tracker"]:
        """A context in which the run is active; it ends FINISHED, or FAILED / KILLED on an exception."""
        ...

    def ui_link(self) -> str | None:
        """The last run's page in the MLflow UI (None without a store)."""
        ...

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Raise a ConfigError, before any work, when the store cannot be used."""
        ...

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run `run_id`."""
        ...

    def download_checkpoint(self, run_id: str, directory: str | Path) -> Path:
        """The run's newest checkpoint file, fetched into `directory`."""
        ...

    def fetch_checkpoint(self, ref: str, directory: str | Path) -> tuple[Path, dict[str, str]]:
        """(The checkpoint file of logged model `models:/m-...` fetched into `directory`, the model's tags)."""
        ...

    def log_checkpoint(
        self, path: str | Path, name: str, kind: str, state: str, step: int, metrics: dict[str, float], metrics_step: int
    ) -> None:
        """Record checkpoint file `path` as a model of the run named `name`, with `metrics` (of `metrics_step`) linked to it."""
        ...

    def logged_overrides(self, run_id: str) -> list[str]:
        """The command-line overrides run `run_id` was started with."""
        ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Record metric values at `step`."""
        ...

    def log_inputs(self, datasets: list[dict]) -> None:
        """Record what the run saw (a task's `datasets()`: name, digest, source, context, profile) as datasets."""
        ...

    def log_text(self, text: str, artifact_file: str) -> None:
        """Record `text` as the artifact `artifact_file`."""
        ...

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Record a local file as an artifact under `artifact_path`."""
        ...

    def set_tag(self, key: str, value: str) -> None:
        """Record one tag."""
        ...

    def set_tags(self, tags: dict[str, str]) -> None:
        """Record tags."""
        ...

    def caught_up(self, timeout: float = 60.0) -> bool:
        """Whether every write so far is in the store (waiting up to `timeout` s)."""
        ...

    def metric_history(self, names: list[str]) -> dict[str, list[tuple[int, float]]]:
        """(step, value) points of each metric of the active run."""
        ...

    def log_model(
        self, model_dir: str | Path, input_example: list[str], prompts: list[str], expected: list[str], step: int, info: dict | None = None
    ) -> str | None:
        """Log the exported model folder to the run, unregistered: its URI (None when nothing is logged now)."""
        ...

    def check_reload(self, model_uri: str, prompts: list[str], expected: list[str]) -> None:
        """Load `model_uri` from the store alone; raise unless it answers `prompts` with `expected`."""
        ...

    def register_version(self, model_uri: str, step: int, info: dict | None = None) -> str:
        """Register a logged, checked model: `models:/NAME/VERSION`."""
        ...

    def run_status(self, run_id: str) -> str | None:
        """FINISHED, KILLED, FAILED or RUNNING; None when the store cannot say."""
        ...
