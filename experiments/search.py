"""The book's random hyper-parameter search as an Optuna study that worker processes share through one storage.

The trials are the book's draws (learning rate 10^U(-6, -2), weight decay 10^U(-8, -4)) from a generator seeded
with --seed, each enqueued under its index, so that which worker runs which trial changes nothing. A worker claims
a waiting trial with Optuna's study.ask() (the storage changes it from WAITING to RUNNING for one claimant only),
trains it, and reports its validation accuracy with study.tell(); only Optuna's public API touches the study.
The storage is an RDB URL (sqlite:///..., postgresql://...) or a journal file: every worker that opens the same
one, on this machine or another, joins the same study, which is keyed by every setting that changes a trial.
A worker that stops (Ctrl-C, SIGTERM, killed, its machine gone) leaves its trial RUNNING; the others see that its
process is gone (same machine) or that its heartbeat stopped (any machine), mark the trial FAIL and enqueue its
index again, so that at most the running trial is lost, and running the command again continues the study. A
worker that wakes after its trial was failed drops its late result, saying so, and goes on. A signal stops a
worker while it trains or waits, never halfway through a write to the storage (StopsBetweenWrites).
"""
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from dlfs_common.signals import signals_handled, stop_with_parent

from .checkpoints import RunInterrupted

LR_RANGE = (1e-6, 1e-2)
WEIGHT_DECAY_RANGE = (1e-8, 1e-4)
SEARCH_IMAGES, VALIDATION_IMAGES = 500, 100  # the book: 500 training images, 20% of them for validation
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 30.0  # a RUNNING trial of another machine whose heartbeat is older than this is lost
FAILURE_ATTR = "failure of trial {}"  # the study's user attr saying why a trial was marked FAIL
ENQUEUED_AHEAD = 256  # waiting trials at most: the book's 100 all at once, a search of a billion 256 at a time


@dataclass(frozen=True)
class SearchSettings:
    """What a worker needs to join the study; picklable, so that spawned worker processes get it."""
    storage: str
    trials: int
    seed: int
    epochs: int
    backend: str = "numpy"
    device: str = "cpu"
    dtype: str = "float32"
    dataset: str = "fashion-mnist"
    download: bool = False

    @property
    def study_name(self):
        # keyed by everything that changes a trial (the draws: seed and count; the training: epochs, backend,
        # dtype, data set), so that a rerun with another setting is another study in the same storage, never
        # the old study's trials reported under the new settings; the device changes only rounding
        return (f"hyperparameter_optimization-seed{self.seed}-trials{self.trials}-epochs{self.epochs}-"
                f"{self.backend}-{self.dtype}-{self.dataset}")


def book_draws(seed: int, trials: int):
    """(permutation of the 500 search images, [(weight_decay, lr), ...]): the book's draws, in its order."""
    permutation, draws = book_draw_stream(seed)
    return permutation, [next(draws) for _ in range(trials)]


def book_draw_stream(seed: int):
    """(permutation of the 500 search images, an endless iterator of the book's (weight_decay, lr) draws)."""
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(SEARCH_IMAGES)

    def draws():
        while True:
            weight_decay = 10 ** rng.uniform(*np.log10(WEIGHT_DECAY_RANGE))
            yield float(weight_decay), float(10 ** rng.uniform(*np.log10(LR_RANGE)))
    return permutation, draws()


class StorageError(ValueError):
    """A --storage that cannot be opened: an unknown kind of URL, a database that cannot be reached, a journal
    file that cannot be written. The message names it."""


def open_storage(spec: str):
    """An Optuna storage: an RDB URL (sqlite:///file.db, postgresql://user@host/db) or a journal file path.
    Raises StorageError naming `spec` when it cannot be opened."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return open_storage_unchecked(spec)
    except (SQLAlchemyError, OSError, ValueError, ImportError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StorageError(f"--storage {spec}: cannot open it ({detail}); expected sqlite:///FILE, "
                           "postgresql://USER@HOST/DB or a journal file in a writable folder") from None


def open_storage_unchecked(spec: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if "://" in spec:
        if spec.startswith("postgresql://"):  # psycopg 3 (the `postgres` extra), whichever SQLAlchemy's default
            spec = "postgresql+psycopg://" + spec.removeprefix("postgresql://")
        if spec.startswith("sqlite"):
            return sqlite_storage(spec)
        return rdb_storage(spec, None)
    return optuna.storages.JournalStorage(JournalFileBackend(spec))


def sqlite_storage(url):
    """RDBStorage on SQLite, whose transactions take the write lock when they begin.

    Optuna claims a trial by reading its state and writing RUNNING in one transaction, reading it `FOR UPDATE`,
    which SQLite ignores; and Python's sqlite3 starts a transaction only at the first write, so two workers could
    both read WAITING and both win the claim (measured: 4 processes claiming 200 waiting trials won 208 claims).
    With the driver's own transaction handling off (isolation_level None) and every transaction begun with
    BEGIN IMMEDIATE, one read-and-write runs at a time; the others wait up to 60 s for the lock.
    """
    from sqlalchemy import event

    storage = rdb_storage(url, {"connect_args": {"timeout": 60, "isolation_level": None}})

    @event.listens_for(storage.engine, "begin")
    def begin_immediately(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return storage


def rdb_storage(url, engine_kwargs, attempts=5):
    """RDBStorage(url): workers starting together on an empty database race to create its tables, and all but
    one fail with the database's integrity error; they find the tables on the next attempt."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def open_study(settings: SearchSettings):
    """The settings' study in their storage, made if missing (Optuna's create_study, load_if_exists)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(settings.storage)
    # the sampler draws nothing here (every trial is enqueued with its parameters); seeded all the same
    return optuna.create_study(study_name=settings.study_name, storage=storage, direction="maximize",
                               sampler=optuna.samplers.RandomSampler(seed=settings.seed), load_if_exists=True)


def is_in_memory(spec: str) -> bool:
    """Whether a --storage is an in-memory database, which no other process sees."""
    return spec.split("?")[0] in ("sqlite://", "sqlite:///", "sqlite:///:memory:")


def trials_by_state(study, *states):
    return study.get_trials(deepcopy=False, states=states)


def enqueue_missing(study, settings: SearchSettings) -> int:
    """Enqueue the book's draws, lowest index first, whose index has no waiting, running or complete trial,
    until ENQUEUED_AHEAD trials wait (so that the study, and the memory of every worker, stays the same size
    whatever --trials says); how many it enqueued."""
    from optuna.trial import TrialState

    live = trials_by_state(study, TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
    taken = {trial.user_attrs.get("index") for trial in live}
    room = ENQUEUED_AHEAD - sum(trial.state == TrialState.WAITING for trial in live)
    _, draws = book_draw_stream(settings.seed)
    enqueued = 0
    for index, (weight_decay, lr) in zip(range(settings.trials), draws):
        if enqueued >= room:
            break
        if index not in taken:
            study.enqueue_trial({"lr": lr, "weight_decay": weight_decay}, user_attrs={"index": index})
            enqueued += 1
    return enqueued


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_gone(trial, now: float) -> bool:
    """Whether the worker running `trial` has stopped: its process is gone (this machine), or its heartbeat is
    older than STALE_AFTER_SECONDS (any machine: on this one, a live process of that id may be another that
    reuses the id of a dead worker)."""
    host, _, pid = str(trial.user_attrs.get("worker", ":")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's: the heartbeat decides
            pass
    heartbeat = trial.user_attrs.get("heartbeat")
    started = trial.datetime_start.timestamp() if trial.datetime_start else now
    return now - (heartbeat if heartbeat is not None else started) > STALE_AFTER_SECONDS


def fail_trial(study, number: int, reason: str) -> bool:
    """Mark trial `number` FAIL through the study (Optuna's tell by trial number), its reason kept in the
    study's user attrs (FAILURE_ATTR); False if it had finished already (another worker failed it first)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    study.set_user_attr(FAILURE_ATTR.format(number), reason)
    try:
        study.tell(number, state=TrialState.FAIL)
    except (ValueError, RuntimeError, UpdateFinishedTrialError):
        if study.get_trials(deepcopy=False)[number].state == TrialState.RUNNING:
            raise
        return False
    return True


def fail_lost_trials(study) -> int:
    """Mark FAIL the running trials whose worker has stopped (their index is then enqueued again); how many."""
    from optuna.trial import TrialState

    lost = [trial for trial in trials_by_state(study, TrialState.RUNNING) if worker_is_gone(trial, time.time())]
    for trial in lost:
        fail_trial(study, trial.number, "its worker stopped before it finished")
    return len(lost)


def claim_waiting_trial(study):
    """A waiting trial this worker now runs, or None: Optuna's study.ask(), which hands out an enqueued trial
    to one caller only (the storage changes it from WAITING to RUNNING for the first claimant).

    The trial names this worker and its first heartbeat from the moment it is claimed.
    ask() makes a new trial when no waiting one is left, which another worker may have claimed since this one
    looked: such a trial (it has no index) is marked FAIL, saying so. Two commands started together may both
    enqueue a draw: of the live trials of one index the lowest-numbered is the one that runs; a claimed
    duplicate is marked FAIL, saying so.
    """
    from optuna.trial import TrialState

    while trials_by_state(study, TrialState.WAITING):
        trial = study.ask()
        trial.set_user_attr("worker", worker_name())  # every trial that left WAITING names who took it,
        trial.set_user_attr("heartbeat", time.time())  # those failed below included
        index = trial.user_attrs.get("index")
        if index is None:
            fail_trial(study, trial.number, "made by Optuna's ask() after another worker claimed the last "
                                            "waiting trial")
            continue
        live = trials_by_state(study, TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
        first = min(other.number for other in live if other.user_attrs.get("index") == index)
        if first == trial.number:
            return trial
        fail_trial(study, trial.number, f"a duplicate of trial {first} (the draw was enqueued twice by workers "
                                        "starting together)")
    return None


def tell_result(study, trial, value) -> bool:
    """Report the trial's validation accuracy; False, with a line saying so, where the trial was marked FAIL
    while this worker ran it (its heartbeat stopped longer than STALE_AFTER_SECONDS: the worker was paused),
    its index then run again elsewhere: the late result is dropped, and the worker goes on."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        study.tell(trial, value)
        return True
    except (ValueError, RuntimeError, UpdateFinishedTrialError):
        if study.get_trials(deepcopy=False)[trial.number].state != TrialState.FAIL:
            raise
    print(f"{worker_name()}: trial {trial.number} (draw {trial.user_attrs.get('index')}) was marked FAIL while "
          f"this worker ran it (no heartbeat for over {STALE_AFTER_SECONDS:.0f} s); its result {value:.4f} is "
          "dropped", file=sys.stderr)
    return False


class Heartbeat:
    """While a claimed trial runs: the time every HEARTBEAT_SECONDS in its user attrs (its worker's name and
    first beat were written when it was claimed)."""

    def __init__(self, trial):
        self.trial = trial
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)

    def beat(self):
        from optuna.exceptions import UpdateFinishedTrialError

        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except (UpdateFinishedTrialError, RuntimeError, ValueError):  # failed by another worker: tell decides
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


def search_data(settings: SearchSettings):
    """{backend: ((x_fit, t_fit), (x_validation, t_validation))}: the book's split of the first 500 images."""
    import torch

    from numpy_impl.datasets import load_mnist as numpy_load_mnist
    from torch_impl.datasets import load_mnist as torch_load_mnist

    permutation, _ = book_draw_stream(settings.seed)
    validation, fit = permutation[:VALIDATION_IMAGES], permutation[VALIDATION_IMAGES:]
    backends = ("numpy", "torch") if settings.backend == "both" else (settings.backend,)
    data = {}
    for backend in backends:
        if backend == "numpy":
            (x, t), _ = numpy_load_mnist(normalize=True, dataset=settings.dataset, download=settings.download)
            rows = fit, validation
        else:
            (x, t), _ = torch_load_mnist(normalize=True, dataset=settings.dataset, download=settings.download,
                                         device=settings.device)
            rows = tuple(torch.as_tensor(r, device=x.device) for r in (fit, validation))
        x, t = x[:SEARCH_IMAGES], t[:SEARCH_IMAGES]
        data[backend] = ((x[rows[0]], t[rows[0]]), (x[rows[1]], t[rows[1]]))
    return data


class TrialTraining:
    """The experiments' two-backend training (experiments.training), configured for one search's trials."""

    def __init__(self, settings: SearchSettings, stops: "StopsBetweenWrites"):
        from .training import TwoBackendTraining

        self.settings, self.stops = settings, stops
        self.runner = TwoBackendTraining(settings.backend, settings.dtype, settings.device, settings.seed)
        self.data = search_data(settings)

    def __call__(self, trial) -> float:
        """Train the trial's network and return its validation accuracy; the curves go to its user attrs."""
        from .training import Net

        lr = trial.suggest_float("lr", *LR_RANGE, log=True)
        weight_decay = trial.suggest_float("weight_decay", *WEIGHT_DECAY_RANGE, log=True)
        index = trial.user_attrs["index"]
        net = Net("MultiLayerNet", (784, [100] * 6, 10), {"weight_decay_lambda": weight_decay})
        with self.stops.anywhere():
            results = self.runner.train(f"trial {index}", net, self.data, "SGD", {"lr": lr},
                                        epochs=self.settings.epochs, batch_size=100, seed=self.settings.seed + index,
                                        allow_divergence=True)
        first = results[self.runner.backends[0]]
        trial.set_user_attr("validation_curve", [float(a) for a in first.test_acc])
        trial.set_user_attr("train_curve", [float(a) for a in first.train_acc])
        trial.set_user_attr("diverged", not bool(np.isfinite(first.train_loss).all()))
        trial.set_user_attr("backends", {backend: r.final_test_acc for backend, r in results.items()})
        return float(first.final_test_acc)


def work(settings: SearchSettings) -> int:
    """Join the study and run its waiting trials until every index has a complete trial; how many this ran.

    While other workers still run the last trials, wait for them (their trial is re-enqueued if one stops).
    """
    from optuna.trial import TrialState

    ran = 0
    with StopsBetweenWrites() as stops:
        study = open_study(settings)
        objective = TrialTraining(settings, stops)
        while True:
            stops.check()
            fail_lost_trials(study)
            enqueue_missing(study, settings)
            trial = claim_waiting_trial(study)
            if trial is None:
                if not trials_by_state(study, TrialState.RUNNING):
                    return ran
                with stops.anywhere():
                    time.sleep(HEARTBEAT_SECONDS / 2)
                continue
            try:
                with Heartbeat(trial):
                    value = objective(trial)
            except BaseException:  # a stop included: the trial is FAIL, and its index is enqueued again
                fail_trial(study, trial.number, "its worker was stopped")
                raise
            ran += tell_result(study, trial, value)


class StopsBetweenWrites:
    """SIGTERM and SIGINT while work() runs: RunInterrupted at once while a trial trains or the worker waits
    (`anywhere`), otherwise at the worker's next `check`. Raised halfway through a write, it could leave the
    storage's lock held or a claimed trial unknown to the worker, and so a trial RUNNING that no one fails.
    The handlers before it are restored on exit."""

    def __init__(self):
        self.signum = None
        self.raising = False
        self.handled = signals_handled(self.handle)

    def __enter__(self):
        self.handled.__enter__()
        return self

    def __exit__(self, *exc):
        return self.handled.__exit__(*exc)

    def handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        if self.raising:
            raise RunInterrupted(self.signum)

    def check(self):
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    @contextmanager
    def anywhere(self):
        self.check()
        self.raising = True
        try:
            yield
        finally:
            self.raising = False


def worker_process(settings: SearchSettings, parent_pid: int) -> None:
    """The body of a spawned worker (`--workers K`): Ctrl-C or SIGTERM ends it quietly, its trial marked FAIL by
    work(); so does the end of the command that started it, killed with SIGKILL included."""
    stop_with_parent(parent_pid)
    try:
        work(settings)
    except KeyboardInterrupt:
        pass


def trial_records(study) -> list[dict]:
    """Every trial of the study once, by number: its index among the book's draws, parameters, validation
    accuracy, state, and the worker that ran it."""
    records, attrs = [], study.user_attrs
    for trial in study.get_trials(deepcopy=False):
        records.append({"number": trial.number, "index": trial.user_attrs.get("index"), "state": trial.state.name,
                        "lr": trial.params.get("lr"), "weight_decay": trial.params.get("weight_decay"),
                        "val_acc": trial.value, "worker": trial.user_attrs.get("worker"),
                        "diverged": trial.user_attrs.get("diverged"),
                        "validation_curve": trial.user_attrs.get("validation_curve"),
                        "train_curve": trial.user_attrs.get("train_curve"),
                        "backends": trial.user_attrs.get("backends"),
                        "failure": attrs.get(FAILURE_ATTR.format(trial.number))})
    return records
