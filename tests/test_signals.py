"""SIGINT/SIGTERM during training: the first asks the loop to stop after its step, the second acts as usual."""

import os
import signal
import threading

import pytest

from mlm_lab.training.signals import StopOnSignal, TrainingInterrupted


def test_the_first_signal_is_recorded_and_the_second_acts_as_usual():
    before = signal.getsignal(signal.SIGINT)
    with StopOnSignal() as stop:
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGINT)  # delivered before kill returns: a signal to this process, main thread
        assert stop.requested == signal.SIGINT  # no KeyboardInterrupt: the loop finishes its step
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the previous handler again: Ctrl-C twice stops at once
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_is_recorded_and_the_handlers_are_restored_on_exit():
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_nothing_is_installed():
    """Python delivers signals to the main thread only, and refuses signal.signal elsewhere."""
    before, seen = signal.getsignal(signal.SIGINT), []

    def work():
        with StopOnSignal() as stop:
            seen.append((stop.requested, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [(None, before)]


def test_an_interruption_says_how_to_exit_and_what_to_tag():
    e = TrainingInterrupted(signal.SIGTERM, 12, "out/checkpoints/latest.pt")
    assert e.exit_code == 143 and e.run_status == "KILLED"  # what a shell reports for a SIGTERM kill
    assert e.tags == {"interrupted.signal": "SIGTERM", "interrupted.step": "12", "interrupted.checkpoint": "out/checkpoints/latest.pt"}
    assert str(e) == "SIGTERM at step 12; checkpoint out/checkpoints/latest.pt"
    assert TrainingInterrupted(signal.SIGINT, 3, None).exit_code == 130
