"""Stopping on SIGTERM as on Ctrl-C, and putting the process's own handlers back afterwards."""
import signal
import threading
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal(KeyboardInterrupt):
    """A stop asked for by a signal (SIGTERM, or Ctrl-C's SIGINT): `signum` says which. A KeyboardInterrupt, so
    that what stops on Ctrl-C stops on SIGTERM too, and `except Exception` does not swallow it."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def raise_stop(signum, frame):
    """A handler: the signal raised as StopSignal, so that SIGTERM stops what Ctrl-C stops."""
    raise StopSignal(signum)


@contextmanager
def signals_handled(handler, signums=STOP_SIGNALS):
    """Within: `handler(signum, frame)` for each of `signums`; on leaving, the handlers found are put back, so
    that a command called in a process that goes on (a notebook, the tests) leaves it as it was. Outside the
    main thread, where Python runs no signal handler, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, found in previous.items():
            signal.signal(signum, found)
