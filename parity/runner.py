"""One runner: registry in, records out. The pytest suite and `python -m parity` both use it."""
import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from functools import lru_cache

from dlfs_common.memory import keep_freed_memory
from dlfs_common.signals import stop_with_parent
from torch_impl.devices import available_devices, exact_mode, share_cores

from .records import Record
from .report import plural
from .tolerances import DTYPES


class NothingChecked(ValueError):
    """A selection of twins, dtypes and devices that runs no check: a run of no checks proves nothing, so it
    fails instead of passing."""


def checked_dtypes(dtypes) -> tuple:
    """`dtypes` as a tuple of known dtype names: a string is one dtype ('float64'), not its characters.
    Raises ValueError for an empty selection or an unknown name."""
    chosen = (dtypes,) if isinstance(dtypes, str) else tuple(dtypes) if isinstance(dtypes, (list, tuple)) else None
    if chosen is None:
        raise ValueError(f"dtypes must be a dtype name or a tuple of them, among {DTYPES}; got {dtypes!r}")
    unknown = [dtype for dtype in chosen if dtype not in DTYPES]
    if not chosen or unknown:
        raise ValueError(f"dtypes must name at least one of {DTYPES}; got {dtypes!r}")
    return chosen


def checked_device(device) -> str:
    """'cpu', or 'cuda' / 'cuda:N' where CUDA is present; raises ValueError naming the device otherwise."""
    name = str(device)
    if name != "cpu" and name != "cuda" and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if name != "cpu" and "cuda" not in available_devices():
        raise ValueError(f"device {device!r} was asked for, but no CUDA device is available")
    return name


def require_jobs(jobs: list, twins: list, dtypes, devices) -> list:
    """`jobs`, or NothingChecked naming the twins, dtypes and devices that selected none."""
    if not jobs:
        names = ", ".join(twin.name for twin in twins[:5]) + (", ..." if len(twins) > 5 else "")
        raise NothingChecked(f"nothing to check: {plural(len(twins), 'twin')} selected ({names or 'none'}), but none "
                             f"of them runs in dtypes {tuple(dtypes)} on devices {tuple(str(d) for d in devices)}")
    return jobs


def jobs(twins: list, dtypes: tuple = DTYPES, devices=None) -> list[tuple]:
    """Every (twin, dtype, device) to run: the twin's own dtypes and devices only, CUDA only where present."""
    devices = available_devices() if devices is None else devices
    dtypes = checked_dtypes(dtypes)
    return [(twin, dtype, device) for twin in twins for dtype in dtypes if dtype in twin.dtypes
            for device in devices if str(device).split(":")[0] in twin.devices]


def not_run(twins: list, dtypes: tuple = DTYPES, devices=None) -> list:
    """The twins that none of the jobs run: they need a dtype or a device (CUDA) not asked for or not here."""
    running = {id(twin) for twin, _, _ in jobs(twins, dtypes, devices)}
    return [twin for twin in twins if id(twin) not in running]


def run_job(twin, dtype: str, device) -> list[Record]:
    """A twin's records for one dtype and device; an exception becomes one failing record."""
    try:
        with exact_mode() if device != "cpu" else nullcontext():
            return twin.run(dtype, device)
    except Exception as error:  # a crash is a finding to report, next to the other results
        return [error_record(twin, dtype, device, error)]


def error_record(twin, dtype: str, device, error: Exception) -> Record:
    """A failing record saying what a twin's run raised."""
    detail = traceback.format_exception_only(type(error), error)[-1].strip()
    return Record(twin.name, f"error: {detail}", dtype, str(device), float("inf"), float("inf"), 0.0, False)


def is_training_run(twin) -> bool:
    """Whether a twin trains a network for many steps (a trajectory or a data-parallel twin): seconds each,
    where the other twins take milliseconds."""
    return "[trajectory" in twin.name or getattr(twin, "spawns_processes", False)


def default_workers(jobs: list[tuple], cores: int) -> int:
    """How many worker processes run_jobs should use for `jobs` when not told: one per core (at most 8) when they
    include a training run, else 1. A worker costs about 2.5 s to start (it imports torch) and 1 s to end, and
    all the other twins together are about 7 s of work on one core: measured on 2 cores, `python -m parity
    --exclude '*trajectory*'` took 9.2 s in one process and 9.4 s with two workers, `--twin 'Affine*'` 3.2 s
    against 7.1 s."""
    return min(cores, 8) if any(is_training_run(twin) for twin, _, _ in jobs) else 1


def run_jobs(jobs: list[tuple], workers: int = 1, done=lambda job: None) -> list[Record]:
    """The records of every job, in the jobs' order; done(job) after each. With workers > 1 the jobs are
    spread over that many spawned processes, each given an equal share of the CPU's cores for BLAS and torch
    threads (the verdicts do not depend on the thread count: CI reruns the suite on one thread), the
    training runs (is_training_run), the longest, first. A twin's jobs (its dtypes and devices) go to one
    process together, so that what a twin sets up once in a process is paid once: torch.compile's first use
    costs a process about 4 s of imports."""
    if workers <= 1 or len(jobs) <= 1:
        records = []
        for job in jobs:
            records += run_job(*job)
            done(job)
        return records
    by_twin = {}
    for index, (twin, _, _) in enumerate(jobs):
        by_twin.setdefault(twin.name, []).append(index)
    groups = sorted(by_twin.values(), key=lambda indices: not is_training_run(jobs[indices[0]][0]))
    results = [None] * len(jobs)
    context = multiprocessing.get_context("spawn")  # forking a process that runs torch's threads can hang
    others = set(multiprocessing.active_children())  # the caller's own processes, left alone
    with ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker,
                             initargs=(workers, os.getpid())) as pool:
        try:
            futures = {pool.submit(run_named_jobs, jobs[indices[0]][0].name,
                                   [jobs[index][1:] for index in indices]): indices for indices in groups}
            for future in as_completed(futures):
                indices = futures[future]
                try:
                    for index, records in zip(indices, future.result()):
                        results[index] = records
                except Exception as error:  # its worker died (a crash in native code): a finding too
                    for index in indices:
                        twin, dtype, device = jobs[index]
                        results[index] = [Record(twin.name, f"error: its worker process stopped ({error})", dtype,
                                                 str(device), float("inf"), float("inf"), 0.0, False)]
                for index in indices:
                    done(jobs[index])
        except BaseException:  # Ctrl-C or SIGTERM: the workers stop now, not after the jobs they are running
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in set(multiprocessing.active_children()) - others:
                worker.terminate()
            raise
    return [record for job_records in results for record in job_records]


def start_worker(workers: int, parent_pid: int) -> None:
    """A worker process's set-up: its share of the cores, freed memory kept for the next arrays (as in the
    main process: dlfs_common.memory), and an end when its parent ends (killed with SIGKILL, the pool's workers
    had waited on its queue for ever)."""
    stop_with_parent(parent_pid)
    share_cores(workers)
    keep_freed_memory()


@lru_cache(maxsize=1)
def twins_by_name():
    from .registry import all_twins

    return {twin.name: twin for twin in all_twins()}


def run_named_jobs(name: str, settings: list[tuple]) -> list[list[Record]]:
    """run_job for each (dtype, device) of settings in a worker process, which builds its own registry and finds
    the twin by name."""
    return [run_job(twins_by_name()[name], dtype, device) for dtype, device in settings]
