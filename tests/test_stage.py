"""The stage runner's interrupts: at once, or inside a fit at the next checkpoint.

Signals are raised in this process with signal.raise_signal (delivered to this thread before
it returns), through the handler stage.run installs.
"""

import signal

import pytest

from mnist_pipeline import stage


@pytest.fixture
def handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in saved:
        signal.signal(signum, stage._interrupt)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_outside_a_fit_an_interrupt_is_raised_at_once(handlers, signum):
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signum)


def test_inside_an_interrupt_waits_for_the_next_checkpoint(handlers):
    reached = []
    with pytest.raises(KeyboardInterrupt), stage.interrupts_at_checkpoints():
        stage.checkpoint()  # nothing pending: goes on
        signal.raise_signal(signal.SIGINT)
        reached.append("after the signal")
        stage.checkpoint()
        reached.append("after the checkpoint")
    assert reached == ["after the signal"]


def test_an_interrupt_no_checkpoint_took_is_raised_at_the_block_end(handlers):
    reached = []
    with pytest.raises(KeyboardInterrupt), stage.interrupts_at_checkpoints():
        signal.raise_signal(signal.SIGTERM)
        reached.append("rest of the block")
    assert reached == ["rest of the block"]


def test_a_second_interrupt_is_raised_at_once(handlers):
    """For a tracking call that hangs: the user's second Ctrl-C is not deferred."""
    reached = []
    with pytest.raises(KeyboardInterrupt), stage.interrupts_at_checkpoints():
        signal.raise_signal(signal.SIGINT)
        reached.append("first deferred")
        signal.raise_signal(signal.SIGINT)
        reached.append("second deferred")
    assert reached == ["first deferred"]


def test_after_the_block_interrupts_are_at_once_again_and_nothing_is_left_pending(handlers):
    with stage.interrupts_at_checkpoints():
        pass
    stage.checkpoint()  # nothing pending from an earlier block
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), stage.interrupts_at_checkpoints():
        signal.raise_signal(signal.SIGINT)
    stage.checkpoint()  # taken by that block's end
