"""SIGINT and SIGTERM stop a run where it is safe: after a training step, or between two writes to the store.

During training `StopOnSignal` lets the current step finish and write a checkpoint. Around the whole run,
`RaiseOnSignal` turns the signal into `TrainingInterrupted` at once (an evaluation can stop mid-way), except
inside `held()` sections (a write to the store, the registration of a version), where it waits for the
section's end: a signal never lands inside a sqlite transaction, and never between a registered version
and the run's end.
"""

import contextlib
import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class TrainingInterrupted(BaseException):
    """The run stopped on a signal after writing a checkpoint; `signum` says which.

    A BaseException, like KeyboardInterrupt: raised from a signal handler wherever the main thread is,
    it must not be swallowed by an `except Exception` in our code or a library's.
    """

    run_status = "KILLED"  # how the tracker ends the run

    def __init__(self, signum: int, step: int, checkpoint: str | None, stage: str = "train", resume_command: str | None = None):
        self.signum, self.step, self.checkpoint, self.stage = signum, step, checkpoint, stage
        self.resume_command = resume_command
        name = signal.Signals(signum).name
        self.tags = {
            "interrupted.signal": name,
            "interrupted.step": str(step),
            "interrupted.checkpoint": str(checkpoint),
            "interrupted.stage": stage,
            **({"resume_command": resume_command} if resume_command else {}),
        }
        where = f"at step {step}" if stage == "train" else f"during {stage}, after training step {step}"
        super().__init__(f"{name} {where}; checkpoint {checkpoint}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process killed by that signal


class StopOnSignal:
    """Within `with`, the first SIGINT/SIGTERM sets `requested`; a second one acts as it normally would."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        self.requested = signum
        log.warning(
            "%s received: finishing this step, then writing a checkpoint (send it again to stop at once)", signal.Signals(signum).name
        )
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():  # Python delivers signals to the main thread only
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


_HELD = {"depth": 0, "pending": None}  # main thread only: Python runs signal handlers there


class RaiseOnSignal:
    """Within `with`, the first SIGINT/SIGTERM raises `interrupted(signum)` (outside `held()` sections: at their end).

    After `finishing()`, a signal is only recorded in `received`: the run's last writes go on, and it ends.
    A second signal acts as it normally would.
    """

    def __init__(self, interrupted: Callable[[int], BaseException]):
        self.interrupted = interrupted
        self.received: int | None = None
        self._raising = True
        self._previous: dict = {}

    def _handle(self, signum, frame):
        self.received = signum
        for number, handler in self._previous.items():  # a second signal acts as it normally would
            signal.signal(number, handler)
        if not self._raising:
            log.warning("%s received while the run ends: it ends first", signal.Signals(signum).name)
        elif _HELD["depth"]:
            _HELD["pending"] = (self, signum)
        else:
            raise self.interrupted(signum)

    def finishing(self) -> None:
        """From now on a signal waits for the run to end (it has nothing left to interrupt)."""
        self._raising = False

    def __enter__(self) -> "RaiseOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in StopOnSignal.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler)


@contextlib.contextmanager
def held():
    """A section a signal must not cut (a write to the store): `RaiseOnSignal` raises at its end instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _HELD["depth"] += 1
    try:
        yield
    except BaseException:
        _HELD["depth"] -= 1
        if _HELD["depth"] == 0:
            _HELD["pending"] = None  # the run ends on this exception already
        raise
    _HELD["depth"] -= 1
    if _HELD["depth"] == 0 and _HELD["pending"] is not None:
        (guard, signum), _HELD["pending"] = _HELD["pending"], None
        if guard._raising:
            raise guard.interrupted(signum)
