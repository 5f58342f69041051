"""Training a network on either backend, or on both from the same weights, batches and dropout masks."""
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from dlfs_common.files import atomic_write
from dlfs_common.memory import freed_memory_kept
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.convert import match_torch_semantics, numpy_to_torch
from parity.masks import record_masks, replay_masks
from torch_impl.acceleration import Acceleration
from torch_impl.devices import resolve_device
from torch_impl.trainer import Trainer as TorchTrainer

from .checkpoints import file_stem

BACKENDS = ("numpy", "torch")
NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Net:
    """A network by its book name and constructor arguments, the same on either backend."""
    kind: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    """Curves as the trainers record them (accuracies at the first step of each epoch), and
    the accuracies after the last step: on the training images evaluated per epoch, and on
    the whole test set. `seconds`: the time this process spent in the training's steps, which began at step
    `first_step` (0, or where a resumed run's checkpoint left off) of `steps`."""
    train_loss: list
    train_acc: list
    test_acc: list
    final_train_acc: float
    final_test_acc: float
    seconds: float
    network: object
    first_step: int = 0
    steps: int = 0

    def summary(self):
        summary = {"final_train_acc": self.final_train_acc, "final_test_acc": self.final_test_acc,
                   "train_acc": self.train_acc, "test_acc": self.test_acc, "train_loss": self.train_loss,
                   "seconds": round(self.seconds, 3)}
        if self.first_step:
            summary["resumed_at_step"] = self.first_step
        return summary

    def took(self) -> str:
        """'in 4.2 s', naming the steps the time covers when the run was resumed."""
        if not self.first_step:
            return f"in {self.seconds:.1f} s"
        if self.first_step >= self.steps:
            return f"(all {self.steps} steps ran before the run was resumed)"
        return f"in {self.seconds:.1f} s (steps {self.first_step + 1}-{self.steps}: resumed at step {self.first_step})"


SEMANTICS = ("book", "pytorch")


class TwoBackendTraining:
    """Building and training networks on `backend` ('numpy', 'torch', or 'both' from the same weights, batches
    and dropout masks) in `dtype` ('float32' or 'float64'), torch on `device` ('auto', 'cpu', 'cuda') with
    `acceleration` (torch_impl.acceleration; a flag string or an Acceleration), weights drawn from `seed`,
    progress bars shown if `progress`. The agreement of the two backends goes to self.metrics.

    `semantics`: 'book' (the default) trains every backend with the book's semantics where PyTorch's differ
    (the torch network through BookNet.use_book_semantics: 1e-7 in the loss's value, BookBatchNorm's running
    statistics); 'pytorch' trains every backend
    with PyTorch's loss and running statistics (the NumPy network through parity.convert.match_torch_semantics).
    Dropout and the optimizers' eps are the book's on both sides either way."""

    def __init__(self, backend="numpy", dtype="float32", device="auto", seed=0, acceleration=None, progress=False,
                 semantics="book"):
        if backend not in BACKENDS + ("both",):
            raise ValueError(f"backend must be 'numpy', 'torch' or 'both'; got {backend!r}")
        if semantics not in SEMANTICS:
            raise ValueError(f"semantics must be one of {list(SEMANTICS)}; got {semantics!r}")
        self.semantics = semantics
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(NUMPY_DTYPES)}; got {dtype!r}")
        self.backends = list(BACKENDS) if backend == "both" else [backend]
        self.dtype = dtype
        self.device = resolve_device(device)
        self.seed = seed
        self.acceleration = Acceleration.parse(acceleration)
        self.progress = progress
        self.metrics = {}
        self.agreement = None  # experiments.catalog.Agreement: what both backends promise in float32, where stated
        self.checkpoints = None  # experiments.checkpoints.RunCheckpoints, where the run writes them
        self.weights_folder = None  # where the final weights of each training go, if anywhere

    @property
    def both(self):
        return len(self.backends) == 2

    def build(self, net, seed=None):
        """{backend: network} in self.semantics; with both backends the torch one gets the NumPy one's weights."""
        seed = self.seed if seed is None else seed
        networks = {}
        if "numpy" in self.backends:
            numpy_net = getattr(numpy_nets, net.kind)(*net.args, dtype=NUMPY_DTYPES[self.dtype],
                                                      rng=np.random.default_rng(seed), **net.kwargs)
            networks["numpy"] = match_torch_semantics(numpy_net) if self.semantics == "pytorch" else numpy_net
        if "torch" in self.backends:
            torch.manual_seed(seed)
            torch_net = getattr(torch_nets, net.kind)(*net.args, dtype=TORCH_DTYPES[self.dtype], device=self.device,
                                                      **net.kwargs)
            if self.both:
                numpy_to_torch(numpy_net, torch_net)
            networks["torch"] = torch_net.use_book_semantics() if self.semantics == "book" else torch_net
        return networks

    def train(self, label, net, data, optimizer="SGD", optimizer_param=None, epochs=1, batch_size=100,
              evaluate_sample_num_per_epoch=None, seed=None, allow_divergence=False):
        """Train `net` on every backend from the same weights and batch order; {backend: TrainResult}.

        allow_divergence: train on through a loss that is not finite (an experiment that shows
        divergence), instead of stopping with TrainingDiverged.

        With both backends, torch runs first and its dropout masks are handed to NumPy.
        """
        seed = self.seed if seed is None else seed
        networks = self.build(net, seed)
        trainers, masks, stop = {}, None, None
        bars = {backend: self.progress_bar(f"{label} [{backend}]") for backend in networks}
        for backend in sorted(networks, key=lambda b: b != "torch"):  # torch first: NumPy replays its masks
            (x_train, t_train), (x_test, t_test) = data[backend]
            settings = dict(epochs=epochs, mini_batch_size=batch_size, optimizer=optimizer,
                            optimizer_param=optimizer_param or {"lr": 0.01}, verbose=False, seed=seed,
                            evaluate_sample_num_per_epoch=evaluate_sample_num_per_epoch,
                            allow_divergence=allow_divergence)
            network = networks[backend]
            if backend == "numpy" and masks is not None:
                replay_masks(network, masks)
            if backend == "torch":
                torch.manual_seed(seed)
                if self.both:
                    masks, stop = record_masks(network)
            trainer_class = NumpyTrainer if backend == "numpy" else TorchTrainer
            extra = {} if backend == "numpy" else {"device": self.device, "acceleration": self.acceleration}
            trainers[backend] = trainer_class(network, x_train, t_train, x_test, t_test, progress=bars[backend].step,
                                              **settings, **extra)
        try:
            seconds, first_steps = self.run_steps(label, trainers)
        finally:
            for bar in bars.values():
                bar.close()
            if stop is not None:
                stop()
        results = {}
        for backend, trainer in trainers.items():
            final = trainer.finish()
            evaluated = evaluate_sample_num_per_epoch or len(trainer.x_train)
            final_train = trainer.network.accuracy(trainer.x_train[:evaluated], trainer.t_train[:evaluated])
            results[backend] = TrainResult(list(map(float, trainer.train_loss_list)), trainer.train_acc_list,
                                           trainer.test_acc_list, final_train, final, seconds[backend],
                                           trainer.network, first_steps[backend], trainer.max_iter)
            if self.weights_folder is not None:
                self.save_weights(label, backend, trainer.network)
        if self.both:
            self.record_agreement(label, results)
        return results

    def run_steps(self, label, trainers) -> tuple:
        """Take every trainer's remaining steps in lockstep (torch's step, then NumPy's, which replays torch's
        dropout masks), writing their checkpoints where due (self.checkpoints: experiments.checkpoints) and
        stopping between two steps when asked to; ({backend: seconds spent in its steps}, {backend: the step it
        began at, past those a checkpoint loaded})."""
        seconds = dict.fromkeys(trainers, 0.0)
        checkpoints = self.checkpoints
        if checkpoints is not None:
            checkpoints.load(trainers, label)
        first_steps = {backend: trainer.current_iter for backend, trainer in trainers.items()}
        with freed_memory_kept():
            try:
                if checkpoints is not None:
                    checkpoints.stops.deferring = True
                while not all(trainer.done for trainer in trainers.values()):
                    for backend, trainer in trainers.items():
                        start = time.perf_counter()
                        trainer.step()
                        seconds[backend] += time.perf_counter() - start
                    if checkpoints is not None:
                        checkpoints.after_step(trainers, label)
            finally:
                if checkpoints is not None:
                    checkpoints.stops.deferring = False
                for trainer in trainers.values():
                    trainer.record_losses()
        return seconds, first_steps

    def save_weights(self, label, backend, network):
        """The trained network's weights and running statistics as an .npz (no pickle) in weights_folder:
        save_params' file on the NumPy side, the state_dict's arrays on the torch side."""
        self.weights_folder.mkdir(parents=True, exist_ok=True)
        path = self.weights_folder / f"{file_stem(label, backend)}.npz"
        if backend == "numpy":
            network.save_params(path)
            return
        with atomic_write(path) as f:
            np.savez(f, **{key: value.detach().cpu().numpy() for key, value in network.state_dict().items()})

    def stated_agreement(self):
        """The Agreement (experiments.catalog) this run's two backends promise, or None where none is stated."""
        from .catalog import FLOAT64_AGREEMENT
        if self.agreement is None:
            return None
        return FLOAT64_AGREEMENT if self.dtype == "float64" else self.agreement

    def record_agreement(self, label, results):
        """With both backends: how far apart their curves ended, recorded and printed, with whether that is
        within the experiment's stated agreement (self.agreement), where it states one."""
        numpy_result, torch_result = results["numpy"], results["torch"]
        numpy_losses, torch_losses = np.asarray(numpy_result.train_loss), np.asarray(torch_result.train_loss)
        finite = np.isfinite(numpy_losses) & np.isfinite(torch_losses)
        same_divergence = np.array_equal(np.isfinite(numpy_losses), np.isfinite(torch_losses))
        loss_gap = float(np.max(np.abs(numpy_losses[finite] - torch_losses[finite]))) if finite.any() else None
        record = {"max_loss_difference": loss_gap,
                  "final_test_acc_difference": abs(numpy_result.final_test_acc - torch_result.final_test_acc),
                  "final_train_acc_difference": abs(numpy_result.final_train_acc - torch_result.final_train_acc)}
        accuracy_gap = max(record["final_test_acc_difference"], record["final_train_acc_difference"])
        line = (f"{label}: numpy and torch losses differ by at most "
                f"{'(none finite)' if loss_gap is None else f'{loss_gap:.2e}'}"
                f"{'' if same_divergence else ' where both are finite (one side diverged at other steps)'}; "
                f"final accuracies by {accuracy_gap:.4f}")
        expected = self.stated_agreement()
        if expected is not None and expected.accuracy is not None:
            held = same_divergence and accuracy_gap <= expected.accuracy and (
                expected.loss is None or loss_gap is None or loss_gap <= expected.loss)
            record["within_stated_agreement"] = held
            line += (f" ({'within' if held else 'OUTSIDE'} the stated {expected.accuracy:g}"
                     + ("" if expected.loss is None else f" and {expected.loss:.0e} of the losses") + ")")
        elif expected is not None:
            line += f" (no bound stated in {self.dtype}: experiments.catalog.AGREEMENT says why)"
        self.metrics.setdefault("backend_agreement", {})[label] = record
        if not getattr(self, "quiet", False):
            print(line)

    def progress_bar(self, description):
        return ProgressBar(description, enabled=self.progress)

class ProgressBar:
    """A tqdm bar driven by the trainers' progress(step, total, loss) callback."""

    def __init__(self, description, enabled=True):
        self.bar = tqdm(desc=description, unit="step", leave=False, disable=not enabled)

    def step(self, step, total, loss):
        self.bar.total = total
        self.bar.update(step - self.bar.n)
        if step % 20 == 0 or step == total:
            self.bar.set_postfix(loss=f"{float(loss):.3f}", refresh=False)

    def close(self):
        self.bar.close()
