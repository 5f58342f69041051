"""The bookkeeping of a training run that the NumPy and the torch Trainer share: batch order, epochs,
accuracies, divergence, the loop. Each Trainer writes only its step (the arithmetic) on top."""
import hashlib
import json

import numpy as np

from .checkpoint import first_difference, read_checkpoint_file, write_checkpoint_file
from .checks import check_finite, check_seed, check_training_data
from .memory import freed_memory_kept


def batch_generator(seed):
    """What a Trainer draws its batches from: a Generator seeded with `seed`, or with seed None NumPy's global
    state (np.random), as the book does, so that np.random.seed repeats a run."""
    check_seed("Trainer", seed)
    return np.random if seed is None else np.random.default_rng(seed)


def generator_state(rng) -> dict:
    """The state of a generator a Trainer draws from (a numpy Generator, or the np.random module) as plain
    data: dicts, lists, strings and integers, which a checkpoint stores without pickle."""
    state = rng.get_state(legacy=False) if rng is np.random else rng.bit_generator.state
    return _plain(state)


def set_generator_state(rng, state: dict) -> None:
    """Put a generator_state back into `rng`."""
    state = _arrays(state)
    if rng is np.random:
        np.random.set_state(state)
    else:
        rng.bit_generator.state = state


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    return value.item() if isinstance(value, np.generic) else value


def _arrays(value):
    if isinstance(value, dict):
        if set(value) == {"array", "dtype"}:
            return np.array(value["array"], dtype=value["dtype"])
        return {key: _arrays(item) for key, item in value.items()}
    return value


def draw_batch_indices(rng, train_size: int, batch_size: int, steps: int) -> np.ndarray:
    """Row indices of `steps` mini-batches, (steps, batch_size), drawn with replacement like the book from `rng`
    (batch_generator's).

    One row per step, drawn one call per step, so that a trainer drawing lazily
    and one drawing everything up front (the torch trainer) see the same batches.
    """
    rows = [rng.choice(train_size, batch_size) for _ in range(steps)]
    return np.array(rows, dtype=np.int64).reshape(steps, batch_size)


def run_settings(optimizer, optimizer_param, mini_batch_size, seed, epochs, evaluate_sample_num_per_epoch,
                 dtype: str, data: str) -> dict:
    """What a checkpoint must have been written with to resume a Trainer built with these arguments, as plain
    JSON values (NumPy's numbers as Python's, tuples as lists), so that a stored copy compares equal. `data`:
    data_fingerprint's line for the Trainer's data."""
    settings = {"optimizer": str(optimizer).lower(), "optimizer_param": dict(optimizer_param),
                "mini_batch_size": mini_batch_size, "seed": seed, "epochs": epochs,
                "evaluate_sample_num_per_epoch": evaluate_sample_num_per_epoch, "dtype": dtype, "data": data}
    return json.loads(json.dumps(settings, default=lambda value: value.item()))


FINGERPRINT_SAMPLES = 256  # samples of each set in a data fingerprint, evenly spaced


def data_fingerprint(x_train, t_train, x_test, t_test) -> str:
    """A line that tells the data a Trainer trains on apart from other data: each set's sample count and a
    digest of its labels and of FINGERPRINT_SAMPLES evenly spaced samples (another dataset, split, order or
    normalisation), without reading every pixel. NumPy arrays or torch tensors (on any device) alike."""
    def as_numpy(array):
        return array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)

    def digest(x, t):
        rows = np.linspace(0, len(x) - 1, min(len(x), FINGERPRINT_SAMPLES)).astype(np.int64).tolist()
        sampled = np.ascontiguousarray(as_numpy(x[rows]), dtype=np.float64)  # a list indexes on any device
        labels = np.ascontiguousarray(as_numpy(t), dtype=np.int64)
        return hashlib.sha256(sampled.tobytes() + labels.tobytes()).hexdigest()[:16]
    return (f"{len(x_train)} training samples (sha256 {digest(x_train, t_train)}), "
            f"{len(x_test)} test samples (sha256 {digest(x_test, t_test)})")


class TrainingDiverged(FloatingPointError):
    """A training loss that is not finite (inf or nan): `step` (1-based) and `loss` say where."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"training diverged at step {step}: the loss is {loss}; lower the learning rate, or "
                         "pass allow_divergence=True to train on")
        self.step, self.loss = step, loss


def first_divergence(losses, first_step: int):
    """TrainingDiverged for the first non-finite loss of `losses` (losses[0] being step `first_step`), or None."""
    for offset, loss in enumerate(losses):
        if not np.isfinite(loss):
            return TrainingDiverged(first_step + offset, loss)
    return None


def starts_epoch(current_iter: int, current_epoch: int, iter_per_epoch: float) -> bool:
    """Whether step `current_iter` is the first of epoch `current_epoch + 1`.

    Fix of the book's code: it tests `current_iter % iter_per_epoch == 0` with a
    float iter_per_epoch (60000 / 128 = 468.75), which is true at step 0 and then
    almost never, so accuracies are missing for most epochs. For a whole number of
    steps per epoch this gives the same steps as the book.
    """
    return current_iter >= current_epoch * iter_per_epoch


class TrainerBase:
    """The book's Trainer without its step: settings, the step and epoch counters, the learning curves
    (train_loss_list, train_acc_list, test_acc_list) and the loop.

    A subclass sets whatever its step needs and defines train_step(), which computes one step's loss and
    hands it to end_step(). `progress`, if given, is called as progress(step, max_iter, loss) after each step.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                 evaluate_sample_num_per_epoch, verbose, progress, allow_divergence):
        check_training_data(x_train, t_train, x_test, t_test, epochs, mini_batch_size, evaluate_sample_num_per_epoch)
        for name, x in (("x_train", x_train), ("x_test", x_test)):
            self.check_finite(name, x)
        self.network = network
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = verbose
        self.progress = progress
        self.allow_divergence = allow_divergence

        self.train_size = len(x_train)
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def check_finite(self, name, x) -> None:
        """Raise ValueError if the data x hold a value that is not finite (dlfs_common.checks.check_finite)."""
        check_finite(name, x)

    def accuracy(self, x, t) -> float:
        """The network's accuracy on (x, t); the torch Trainer shares the rows out among its ranks."""
        return self.network.accuracy(x, t)

    def record_losses(self) -> None:
        """Move losses held back by the step (the torch Trainer keeps them on its device) into
        train_loss_list, raising TrainingDiverged at the first that is not finite unless allowed."""

    def check_loss(self, loss: float) -> None:
        if not self.allow_divergence and not np.isfinite(loss):
            raise TrainingDiverged(self.current_iter + 1, loss)

    def print_loss(self, loss: float) -> None:
        """The book's line for each step's loss, if verbose."""
        if self.verbose:
            print("train loss:" + str(loss))

    def end_step(self) -> None:
        """After a step: at an epoch's start, record the train and test accuracy (on at most
        evaluate_sample_num_per_epoch samples each), printing them if verbose; count the step."""
        if starts_epoch(self.current_iter, self.current_epoch, self.iter_per_epoch):
            self.record_losses()
            self.current_epoch += 1
            count = self.evaluate_sample_num_per_epoch
            train_acc = self.accuracy(self.x_train[:count], self.t_train[:count])
            test_acc = self.accuracy(self.x_test[:count], self.t_test[:count])
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:  # the book's words, numbers unformatted as it prints them
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc) + ", test acc:"
                      + str(test_acc) + " ===")
        self.current_iter += 1

    @property
    def done(self) -> bool:
        """Whether every step of the run was taken."""
        return self.current_iter >= self.max_iter

    def at_epoch_end(self) -> bool:
        """Whether the steps taken end an epoch: the next step starts one, or there is no next step."""
        return self.current_iter > 0 and (self.done or starts_epoch(self.current_iter, self.current_epoch,
                                                                    self.iter_per_epoch))

    def step(self):
        """One training step (train_step), then progress(step, max_iter, loss) if given; returns the loss."""
        loss = self.train_step()
        if self.progress is not None:
            self.progress(self.current_iter, self.max_iter, loss)
        return loss

    def finish(self) -> float:
        """The final test accuracy on the whole test set, printed if verbose (after the last step)."""
        self.record_losses()
        test_acc = self.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
        return test_acc

    def train(self):
        """Run the remaining steps; returns the final test accuracy on the whole test set. While it runs, freed
        memory is kept for the next step's arrays (dlfs_common.memory.freed_memory_kept), and given back after."""
        with freed_memory_kept():
            try:
                while not self.done:
                    self.step()
            finally:
                self.record_losses()
        return self.finish()

    # checkpoints: each Trainer gives its payload (checkpoint_payload) and takes it back (load_checkpoint_payload)

    def save_checkpoint(self, path) -> None:
        """Write the Trainer's checkpoint_payload to `path` behind its SHA-256 digest, atomically
        (dlfs_common.checkpoint): a kill during the write leaves the previous file. Across ranks every rank calls
        it and rank 0 writes."""
        payload = self.checkpoint_payload()
        if payload is not None:
            write_checkpoint_file(path, payload)

    def run_difference(self, saved: dict) -> str:
        """'' if a checkpoint's network_class, optimizer_class and settings are this Trainer's, else the first
        that differs."""
        for kind, mine in (("network", self.network), ("optimizer", self.optimizer)):
            if saved[f"{kind}_class"] != type(mine).__name__:
                return (f"it holds the state of the {kind} {saved[f'{kind}_class']}, this Trainer's {kind} is "
                        f"{type(mine).__name__}")
        return first_difference(saved["settings"], self.settings)

    def load_checkpoint(self, path) -> None:
        """Resume from the checkpoint at `path`; ValueError naming the file if it cannot be read, is not a
        checkpoint, does not match its digest, or does not fit this Trainer (then nothing has changed)."""
        self.load_checkpoint_payload(read_checkpoint_file(path), path)

    def position(self) -> dict:
        """Where the run is: its step and epoch counters and the curves so far (plain numbers, JSON-able)."""
        self.record_losses()
        return {"current_iter": self.current_iter, "current_epoch": self.current_epoch,
                "train_loss_list": [float(loss) for loss in self.train_loss_list],
                "train_acc_list": [float(acc) for acc in self.train_acc_list],
                "test_acc_list": [float(acc) for acc in self.test_acc_list]}

    def restore_position(self, position: dict) -> None:
        for key, value in position.items():
            setattr(self, key, value)
