"""The book's Trainer (common/trainer.py): mini-batch training with learning curves, and its checkpoints."""
import io
import json

import numpy as np

from dlfs_common.checkpoint import arrays_difference, unreadable_checkpoint
from dlfs_common.checks import check_labels
from dlfs_common.training import (
    TrainerBase,
    batch_generator,
    data_fingerprint,
    generator_state,
    run_settings,
    set_generator_state,
)

from .layers import Dropout
from .optimizers import make_optimizer


class Trainer(TrainerBase):
    """Train `network` with mini-batches drawn at random (with replacement).

    optimizer: a name ('SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop',
    'Adam', any case) with its hyper-parameters in optimizer_param. After
    train(): train_loss_list (one loss per step, taken after the update, as in
    the book), train_acc_list and test_acc_list (one per epoch, on at most
    evaluate_sample_num_per_epoch samples). `seed` makes the batch order
    reproducible; without it batches come from NumPy's global state, as in the
    book (np.random.seed repeats a run). verbose prints the book's lines: each
    step's loss, each epoch's accuracies, the final test accuracy. A loss that is
    not finite raises TrainingDiverged naming the step, unless allow_divergence=True.
    save_checkpoint(path) and load_checkpoint(path) (dlfs_common.training) stop and resume a run exactly.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006 (the book's signature; never mutated)
                 evaluate_sample_num_per_epoch=None,
                 verbose=True, seed=None, progress=None, allow_divergence=False):
        super().__init__(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                         evaluate_sample_num_per_epoch, verbose, progress, allow_divergence)
        for t in (t_train, t_test):  # before any step, as the torch Trainer does
            check_labels(t, len(t), network.output_size)
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.rng = batch_generator(seed)
        self.settings = run_settings(optimizer, optimizer_param, mini_batch_size, seed, epochs,
                                     evaluate_sample_num_per_epoch, network.dtype.name,
                                     data_fingerprint(x_train, t_train, x_test, t_test))

    def train_step(self):
        batch_mask = self.rng.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = float(self.network.loss(x_batch, t_batch))
        self.train_loss_list.append(loss)
        self.print_loss(loss)
        self.check_loss(loss)
        self.end_step()
        return loss

    def dropout_generators(self) -> list:
        """The generators the network's dropout layers draw their masks from, each once, in layer order
        (np.random for a layer without its own, as the book draws)."""
        found = []
        for layer in self.network.layers.values():
            if isinstance(layer, Dropout):
                rng = np.random if layer.rng is None else layer.rng
                if not any(rng is known for known in found):
                    found.append(rng)
        return found

    def checkpoint_payload(self) -> bytes:
        """The checkpoint's contents (save_checkpoint writes them): everything the rest of the run depends on, so that a
        Trainer built as this one was and loaded from it ends where this one would, bit for bit: the parameters and
        running statistics, the optimizer's state, the generators of the batch order and of the dropout masks (NumPy's
        global state where the run draws from it, as the book does), the position (step, epoch) and the curves so far,
        and the settings that must match: an .npz of the arrays and a JSON description (no pickle)."""
        arrays = {f"param/{key}": value for key, value in self.network.params.items()}
        arrays |= {f"buffer/{key}": value for key, value in self.network.buffers().items()}
        for name, value in vars(self.optimizer).items():
            if isinstance(value, dict):
                arrays |= {f"optimizer/{name}/{key}": array for key, array in value.items()}
        optimizer_dicts = sorted(name for name, value in vars(self.optimizer).items() if isinstance(value, dict))
        generators = [self.rng] + self.dropout_generators()
        states = [None if rng is np.random else generator_state(rng) for rng in generators]
        description = {
            "network_class": type(self.network).__name__, "optimizer_class": type(self.optimizer).__name__,
            "settings": self.settings, "position": self.position(),
            "optimizer_scalars": {name: value for name, value in vars(self.optimizer).items()
                                  if name not in optimizer_dicts},
            "optimizer_dicts": optimizer_dicts,
            "random": {"batch_order": states[0], "dropout": states[1:],
                       "numpy_global": generator_state(np.random) if None in states else None}}
        arrays["description"] = np.frombuffer(json.dumps(description).encode(), dtype=np.uint8)
        payload = io.BytesIO()
        np.savez(payload, **arrays)
        return payload.getvalue()

    def load_checkpoint_payload(self, payload: bytes, path):
        """Restore what checkpoint_payload gave, read from `path`; training resumes there. Raises ValueError
        naming the file if it was written by a Trainer of another network, optimizer or settings (naming what
        differs); then nothing has changed."""
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            description = json.loads(arrays.pop("description").tobytes())
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise unreadable_checkpoint(path, payload, "numpy_impl", error) from None
        difference = self.checkpoint_difference(description, arrays)
        if difference:
            raise ValueError(f"{path} does not fit this Trainer: {difference}; nothing was loaded")
        for key, param in self.network.params.items():
            param[...] = arrays[f"param/{key}"]
        for layer in self.network.batchnorm_layers().values():
            layer.running_mean = layer.running_var = None
        for name, value in arrays.items():
            if name.startswith("buffer/"):
                self.network.set_buffer(name.removeprefix("buffer/"), value)
        for name, value in description["optimizer_scalars"].items():
            setattr(self.optimizer, name, value)
        for name in description["optimizer_dicts"]:
            prefix = f"optimizer/{name}/"
            setattr(self.optimizer, name, {key.removeprefix(prefix): value for key, value in arrays.items()
                                           if key.startswith(prefix)})
        self.restore_position(description["position"])
        random = description["random"]
        if random["numpy_global"] is not None:
            set_generator_state(np.random, random["numpy_global"])
        for rng, state in zip([self.rng] + self.dropout_generators(), [random["batch_order"]] + random["dropout"]):
            if state is not None:
                set_generator_state(rng, state)

    def checkpoint_difference(self, description: dict, arrays: dict) -> str:
        """'' if a checkpoint fits this Trainer, else what differs: the network or optimizer class, a setting,
        a parameter's name, shape or dtype, the number of dropout generators."""
        difference = self.run_difference(description) or arrays_difference(
            {name.removeprefix("param/"): (array.dtype.name, array.shape) for name, array in arrays.items()
             if name.startswith("param/")},
            {key: (param.dtype.name, param.shape) for key, param in self.network.params.items()})
        if difference:
            return difference
        shapes = self.network.buffer_shapes()
        for name, array in arrays.items():
            buffer = name.removeprefix("buffer/")
            if name.startswith("buffer/") and (buffer not in shapes or array.shape != shapes[buffer]):
                return f"it holds {buffer} {array.shape}, which this network does not have"
        if len(description["random"]["dropout"]) != len(self.dropout_generators()):
            return "its network draws dropout masks from another number of generators"
        return ""
