"""Stopping on SIGTERM as on Ctrl-C, putting the process's own handlers back afterwards, and stopping a
worker process whose parent is gone."""
import ctypes
import os
import signal
import sys
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


PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal for this process when the thread that made it ends


def stop_with_parent(parent_pid: int) -> None:
    """Have this process receive SIGTERM when its parent, the process `parent_pid`, ends, even by SIGKILL,
    which leaves a parent no chance to stop its workers (Linux's PR_SET_PDEATHSIG; elsewhere nothing changes).
    Call it from the worker, whose parent made it in the thread that waits for it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent_pid:  # it ended before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
