"""Shared test helpers: the golden fixtures and the numerical gradient check."""
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO / "golden"
SHARED_GOLDEN_DIR = REPO.parent / "shared" / "golden"


def load_golden(name):
    """The fixture golden/<name>.npz as a dict of arrays (no pickle)."""
    with np.load(GOLDEN_DIR / f"{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def golden_images(fixture, flatten):
    """The fixture's uint8 images as the book feeds them: float64 / 255."""
    x = fixture["x_uint8"].astype(np.float64) / 255
    return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)


def numerical_grad_check(f, arrays, kind="numerical gradient", name=""):
    """Compare analytic grads to central differences of scalar f() for each (array, grad) pair,
    at the tolerance of `kind` (parity.tolerances)."""
    from numpy_impl.gradient import numerical_gradient
    from parity.records import assert_close
    for key, (array, grad) in arrays.items():
        expected = numerical_gradient(lambda _: f(), array)
        assert_close(grad, expected, kind, f"{name} d{key}")


CRASHING_JOB = ("Affine", "float64")


def run_named_jobs_or_crash(name, settings):
    """parity.runner.run_named_jobs in a worker process, except that the job CRASHING_JOB kills its own
    process first, as a crash in native code would: a worker that dies at a known point, not after a guessed
    delay."""
    import os
    import signal

    from parity import runner

    if any((name, dtype) == CRASHING_JOB for dtype, _ in settings):
        os.kill(os.getpid(), signal.SIGKILL)
    return runner.run_named_jobs(name, settings)


def run_named_jobs_naming_the_process(name, settings):
    """One record per job of parity.runner.run_named_jobs' settings whose check names the worker process that
    ran it."""
    import os

    from parity.records import Record

    return [[Record(name, f"process {os.getpid()}", dtype, str(device), 0.0, 0.0, 1.0, True)]
            for dtype, device in settings]


def process_is_running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie, which no one has reaped yet, has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
