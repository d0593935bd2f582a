"""SIGINT and SIGTERM ask the loop to stop after the current step instead of killing it mid-write."""

import logging
import signal
import threading

log = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """The run stopped on a signal after writing a checkpoint; `signum` says which."""

    run_status = "KILLED"  # how the tracker ends the run

    def __init__(self, signum: int, step: int, checkpoint: str | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        self.tags = {"interrupted.signal": name, "interrupted.step": str(step), "interrupted.checkpoint": str(checkpoint)}
        super().__init__(f"{name} at step {step}; checkpoint {checkpoint}")

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
