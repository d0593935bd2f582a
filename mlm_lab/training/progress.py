"""What a person watching a run sees: a tqdm bar in a terminal, plain log lines everywhere.

The log lines go through `logging`, so Hydra's log file holds them whether or not a bar is shown;
while the bar is up, console log records are written above it instead of through it.
"""

import contextlib
import logging
import sys
import time

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("mlm_lab.training")


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """A bar over the budget (when `bar`), and one log line per `line` call with step, loss, lr, tokens/s and ETA."""

    def __init__(self, total_steps: int | None, bar: bool | None, enabled: bool = True):
        self.total_steps = total_steps
        self.enabled = enabled
        self.bar_wanted = enabled and (sys.stderr.isatty() if bar is None else bar)
        self.started = time.perf_counter()
        self.start_progress = 0.0
        self._bar = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "Progress":
        if self.bar_wanted:
            self._stack.enter_context(logging_redirect_tqdm())
            self._bar = self._stack.enter_context(tqdm(total=self.total_steps, unit="step", dynamic_ncols=True, file=sys.stderr))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def begin(self, step: int, progress: float) -> None:
        """Where the run starts (non-zero when resumed); ETAs count from here."""
        self.started, self.start_progress = time.perf_counter(), progress
        if self._bar is not None:
            self._bar.n = self._bar.last_print_n = step
            self._bar.refresh()

    def eta(self, progress: float) -> float | None:
        done = progress - self.start_progress
        if done <= 0:
            return None
        return (time.perf_counter() - self.started) * (1.0 - progress) / done

    def step(self, step: int, loss: float, lr: float, progress: float) -> None:
        if self._bar is None:
            return
        self._bar.update(step - self._bar.n)
        eta = self.eta(progress)
        self._bar.set_postfix_str(
            f"loss {loss:.4f}  lr {lr:.2e}  {progress:.0%} of budget" + (f"  eta {duration(eta)}" if eta else ""), refresh=False
        )

    def line(self, step: int, metrics: dict, progress: float) -> None:
        if not self.enabled:
            return
        of = f"/{self.total_steps}" if self.total_steps else ""
        eta = self.eta(progress)
        log.info(
            "step %d%s (%.0f%%)  loss %.4f  lr %.2e  grad_norm %.3g  %.0f tok/s  eta %s",
            step,
            of,
            100 * min(progress, 1.0),
            metrics["train/loss"],
            metrics["train/lr"],
            metrics["train/grad_norm"],
            metrics["tokens_per_second"],
            duration(eta) if eta is not None else "?",
        )

    def message(self, text: str, *args) -> None:
        if self.enabled:
            log.info(text, *args)
