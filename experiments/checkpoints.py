"""Checkpoints of an experiment run, and stopping it cleanly: what `--resume` and `--checkpoint-every` do.

Each training of a run (a label such as 'SimpleConvNet', on one backend or both) writes its Trainers' checkpoint
(numpy_impl.trainer / torch_impl.trainer: every generator, the position, the curves; one file for all its
backends, written atomically, so that they never part) into OUT/checkpoints/
at the end of every epoch, every N steps with --checkpoint-every N, and when the process is asked to stop
(SIGTERM, Ctrl-C) between two steps. `--resume` builds every training as the first run did and loads its
checkpoint: a training that had finished is not run again, an interrupted one goes on from its last checkpoint,
and the run ends with the same weights and curves as an uninterrupted one. OUT/checkpoints/run.json holds the
run's settings; a --resume with other settings is refused, naming the first that differs. A run that ends
removes its checkpoints.
"""
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from dlfs_common.checkpoint import first_difference, read_checkpoint_file, write_checkpoint_file
from dlfs_common.files import atomic_write
from dlfs_common.signals import StopSignal

RUN_FILE = "run.json"
# the settings a resumed run may change: where the torch side runs (a checkpoint loads onto any device) and how
# often it writes checkpoints
FREE_SETTINGS = ("device", "checkpoint_every")


RunInterrupted = StopSignal  # the run was asked to stop (SIGTERM or Ctrl-C): `signum` says by which signal


class ResumeError(ValueError):
    """A --resume that cannot continue: nothing to resume, other settings, the run busy in another process."""


class StopRequests:
    """SIGTERM and SIGINT while a training runs its steps (`deferring`): the current step ends, the checkpoints
    are written, then RunInterrupted is raised; at any other moment (or at a second signal) it is raised at
    once. A step stopped halfway would leave the weights half updated, which no checkpoint must hold."""

    def __init__(self):
        self.signum = None
        self.deferring = False

    def handle(self, signum, frame):
        if self.deferring and self.signum is None:
            self.signum = signum
            return
        raise RunInterrupted(signum)


class RunCheckpoints:
    """The checkpoints of one run in `out`/checkpoints: which file each training writes, when it is due, and
    whether this run continues an earlier one (`resume`). `every`: steps between checkpoints (None: at epoch
    ends only). `save_on_stop`: whether a stop request writes checkpoints first (not across ranks, where the
    ranks that did not receive it could not take part)."""

    def __init__(self, out, settings: dict, resume: bool, every=None, writes=True, save_on_stop=True):
        self.folder = Path(out) / "checkpoints"
        self.every, self.writes, self.save_on_stop = every, writes, save_on_stop
        self.stops = StopRequests()
        self.lock = None
        self.labels = set()
        if resume:
            self.check_resumable(settings)
        elif has_checkpoints(out):
            if writes:  # a run still going is said as such: --resume would be refused too
                self.take_lock()
                self.finish_lock()
            raise ResumeError(f"{self.folder} holds the checkpoints of an unfinished run: --resume continues it; "
                              f"delete {self.folder} to start over")
        self.resume = resume
        if writes:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.take_lock()
            for partial in self.folder.glob(".*.part"):  # a write a kill interrupted (its file is whole or absent)
                partial.unlink()
            with atomic_write(self.folder / RUN_FILE) as f:
                f.write(json.dumps(settings, indent=1).encode())

    def check_resumable(self, settings: dict) -> None:
        run_file = self.folder / RUN_FILE
        if not run_file.is_file():
            if saved_metrics(self.folder.parent).get("finished") is True:
                raise ResumeError(f"nothing to resume: the run in {self.folder.parent} finished (its metrics.json "
                                  "says so); without --resume it starts over")
            raise ResumeError(f"nothing to resume: {run_file} does not exist (a run writes it when it starts and "
                              "removes its checkpoints when it ends)")
        try:
            saved = json.loads(run_file.read_text())
        except (OSError, ValueError) as error:
            raise ResumeError(f"{run_file} cannot be read ({error})") from None
        difference = first_difference({k: v for k, v in saved.items() if k not in FREE_SETTINGS},
                                      {k: v for k, v in settings.items() if k not in FREE_SETTINGS}, "--")
        if difference:
            raise ResumeError(f"--resume refused: {difference.replace('it was written', 'the run was started')}")

    def take_lock(self) -> None:
        """Hold a lock on the folder for this process's life: two processes writing one run's checkpoints would
        overwrite each other's."""
        self.lock = open(self.folder / ".lock", "w")  # noqa: SIM115 (held until the process ends)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()
            raise ResumeError(f"another process is running the run in {self.folder.parent}") from None

    def path(self, label: str, trainers: dict) -> Path:
        """The checkpoint file of one training: one file for all its backends, so that a kill while it is
        written leaves the last complete set, never one backend a step ahead of the other."""
        return self.folder / f"{file_stem(label, '+'.join(trainers))}.ckpt"

    def load(self, trainers: dict, label: str) -> None:
        """Load each trainer's part of the training's checkpoint where this run resumes and one was written.
        Each training of a run needs a label of its own: two would share one checkpoint file."""
        if label in self.labels:
            raise ValueError(f"two trainings of this run are labelled {label!r}: each needs its own checkpoint")
        self.labels.add(label)
        path = self.path(label, trainers)
        if not self.resume or not path.is_file():
            return
        try:
            with np.load(io.BytesIO(read_checkpoint_file(path)), allow_pickle=False) as saved:
                payloads = {name: saved[name].tobytes() for name in saved.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ResumeError(f"{path} cannot be read ({error})") from None
        if set(payloads) != set(trainers):
            raise ResumeError(f"{path} holds the backends {sorted(payloads)}, this run trains {sorted(trainers)}")
        for backend, trainer in trainers.items():  # a refusal ends the run, whose trainers go with it
            try:
                trainer.load_checkpoint_payload(payloads[backend], f"{path} [{backend}]")
            except ValueError as error:  # another network, optimizer, setting or data than the run's
                raise ResumeError(f"--resume refused: {error}") from None

    def due(self, trainer) -> bool:
        """Whether the steps the trainer has taken end at a checkpoint: an epoch's end, every `every` steps."""
        return trainer.at_epoch_end() or bool(self.every and trainer.current_iter % self.every == 0)

    def save(self, trainers: dict, label: str) -> None:
        """The training's checkpoint: every trainer's payload in one file (across ranks every rank calls it, and
        rank 0 writes)."""
        payloads = {backend: trainer.checkpoint_payload() for backend, trainer in trainers.items()}
        if any(payload is None for payload in payloads.values()):  # not rank 0
            return
        combined = io.BytesIO()
        np.savez(combined, **{backend: np.frombuffer(payload, dtype=np.uint8) for backend, payload in payloads.items()})
        write_checkpoint_file(self.path(label, trainers), combined.getvalue())

    def after_step(self, trainers: dict, label: str) -> None:
        """Write the checkpoints if due or if a stop was asked for, then raise RunInterrupted for the stop."""
        first = next(iter(trainers.values()))
        stopping = self.stops.signum is not None
        if self.due(first) or (stopping and self.save_on_stop):
            self.save(trainers, label)
        if stopping:
            raise RunInterrupted(self.stops.signum)

    def finish(self) -> None:
        """The run ended: its checkpoints are of no more use."""
        if self.writes:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.finish_lock()

    def finish_lock(self) -> None:
        """Let another process take the run (this one stops)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def file_stem(label: str, backend: str) -> str:
    """A training's label and backend made a file name, with a digest of the label that keeps two labels apart
    when only the characters a file name drops tell them apart."""
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_")[:60]
    return f"{slug}-{hashlib.sha256(label.encode()).hexdigest()[:8]}-{backend}"


def has_checkpoints(out) -> bool:
    """Whether `out` holds the checkpoints of an unfinished run."""
    return any((Path(out) / "checkpoints").glob("*.ckpt"))


def saved_metrics(out) -> dict:
    """The metrics.json in `out`; {} where there is none, or none that a run of ours wrote (not a JSON object)."""
    try:
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def restarted_by_torchrun() -> bool:
    """Whether torchrun restarted this rank's group after a failure (TorchElastic's TORCHELASTIC_RESTART_COUNT)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
