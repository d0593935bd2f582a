"""SIGINT/SIGTERM during training: the first asks the loop to stop after its step, the second acts as usual."""

import os
import signal
import threading

import pytest

from mlm_lab.training.signals import RaiseOnSignal, StopOnSignal, TrainingInterrupted, held


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
    assert e.tags == {
        "interrupted.signal": "SIGTERM",
        "interrupted.step": "12",
        "interrupted.checkpoint": "out/checkpoints/latest.pt",
        "interrupted.stage": "train",
    }
    assert str(e) == "SIGTERM at step 12; checkpoint out/checkpoints/latest.pt"
    assert TrainingInterrupted(signal.SIGINT, 3, None).exit_code == 130

    late = TrainingInterrupted(signal.SIGINT, 10, "final.pt", "report", "mlm-train resume=abc")
    assert str(late) == "SIGINT during report, after training step 10; checkpoint final.pt"
    assert late.tags["interrupted.stage"] == "report" and late.tags["resume_command"] == "mlm-train resume=abc"
    assert not isinstance(late, Exception)  # raised from a handler anywhere: no `except Exception` may swallow it


def interrupted(signum):
    return TrainingInterrupted(signum, 10, "final.pt", "evaluate")


def test_outside_held_sections_a_signal_raises_at_once_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM during evaluate"), RaiseOnSignal(interrupted) as guard:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached: the handler raised")
    assert guard.received == signal.SIGTERM and signal.getsignal(signal.SIGTERM) is before


def test_inside_a_held_section_the_signal_waits_for_its_end():
    done = []
    with pytest.raises(TrainingInterrupted, match="SIGINT"), RaiseOnSignal(interrupted):
        with held():
            with held():  # nested: raised at the outermost section's end
                os.kill(os.getpid(), signal.SIGINT)
                done.append("inner")
            done.append("outer")
        done.append("after")  # not reached
    assert done == ["inner", "outer"]


def test_an_exception_inside_a_held_section_drops_the_pending_signal():
    with pytest.raises(KeyError), RaiseOnSignal(interrupted):
        with held():
            os.kill(os.getpid(), signal.SIGTERM)
            raise KeyError("the run ends on this one already")
    with held():
        pass  # nothing left pending from before


def test_once_finishing_a_signal_is_only_recorded_and_a_second_acts_as_usual():
    with RaiseOnSignal(interrupted) as guard:
        guard.finishing()
        os.kill(os.getpid(), signal.SIGINT)
        with held():
            pass
        assert guard.received == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # Python's own handler again
