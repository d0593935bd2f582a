"""Both trackers provide exactly the `Tracker` protocol: every member, with the same parameters and defaults."""

import inspect
import re
from pathlib import Path

import pytest

import mlm_lab
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from mlm_lab.tracking.null_tracker import NullTracker
from mlm_lab.tracking.tracker import Tracker

IMPLEMENTATIONS = [MlflowTracker, NullTracker]
METHODS = sorted(n for n, v in vars(Tracker).items() if not n.startswith("_") and inspect.isfunction(v))
ATTRIBUTES = sorted({*Tracker.__annotations__, *(n for n, v in vars(Tracker).items() if isinstance(v, property))})


def parameters(function) -> list[tuple]:
    """What a caller relies on: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def drift(cls: type) -> list[str]:
    """How `cls` departs from the protocol: members it lacks, methods whose parameters differ."""
    problems = [f"{cls.__name__} lacks {name}" for name in METHODS if not callable(getattr(cls, name, None))]
    for name in METHODS:
        if callable(getattr(cls, name, None)) and parameters(getattr(cls, name)) != parameters(getattr(Tracker, name)):
            problems.append(f"{cls.__name__}.{name}{inspect.signature(getattr(cls, name))} != {inspect.signature(getattr(Tracker, name))}")
        elif callable(getattr(cls, name, None)):  # annotations the implementation gives must be the protocol's
            for mine, theirs in zip(
                inspect.signature(getattr(cls, name)).parameters.values(), inspect.signature(getattr(Tracker, name)).parameters.values()
            ):
                if mine.annotation is not inspect.Parameter.empty and mine.annotation != theirs.annotation:
                    problems.append(f"{cls.__name__}.{name}({mine.name}: {mine.annotation}) != {theirs.annotation}")
    return problems


def test_the_protocol_lists_what_the_runner_trainer_and_apps_call():
    assert METHODS == sorted(
        ["run", "check_reachable", "run_exists", "download_checkpoint", "logged_overrides", "log_metrics", "log_text", "log_artifact"]
        + ["log_inputs", "log_checkpoint", "fetch_checkpoint", "ui_link"]
        + ["set_tag", "set_tags", "caught_up", "metric_history", "log_model", "check_reload", "register_version", "run_status"]
    )
    assert ATTRIBUTES == ["experiment", "keeps_runs", "register_as", "resolved_uri", "run_id"]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_each_tracker_implements_every_member_with_the_protocols_signature(cls):
    assert drift(cls) == []
    tracker = cls()
    assert isinstance(tracker, Tracker)
    for name in ATTRIBUTES:
        assert hasattr(tracker, name), name
    assert isinstance(tracker.keeps_runs, bool) and isinstance(tracker.resolved_uri, str) and isinstance(tracker.experiment, str)
    assert tracker.run_id is None


def test_a_tracker_that_drifts_is_caught():
    class Drifted(NullTracker):
        def caught_up(self, seconds: float = 60.0) -> bool:  # renamed parameter
            return True

        def log_text(self, text: str, artifact_file: int) -> None:  # another type
            pass

    Drifted.run_status = None  # gone
    problems = drift(Drifted)
    assert len(problems) == 3, problems
    assert (
        any("lacks run_status" in p for p in problems)
        and any("caught_up" in p for p in problems)
        and any("log_text" in p for p in problems)
    )


def test_nothing_asks_which_tracker_class_it_holds():
    """Code asks `tracker.keeps_runs`; an isinstance check on a tracker class would miss a third tracker."""
    root = Path(mlm_lab.__file__).parent
    pattern = re.compile(r"isinstance\([^)]*\b(NullTracker|MlflowTracker)\b")
    found = [f"{p.relative_to(root)}" for p in root.rglob("*.py") if pattern.search(p.read_text())]
    found += [
        f"tests/{p.name}" for p in Path(__file__).parent.glob("*.py") if p.name != Path(__file__).name and pattern.search(p.read_text())
    ]
    assert found == []
