"""Training a network on either backend, or on both from the same weights, batches and dropout masks."""
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.convert import match_torch_semantics, numpy_to_torch
from parity.masks import record_masks, replay_masks
from torch_impl.acceleration import Acceleration
from torch_impl.devices import resolve_device
from torch_impl.trainer import Trainer as TorchTrainer

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
    the whole test set."""
    train_loss: list
    train_acc: list
    test_acc: list
    final_train_acc: float
    final_test_acc: float
    seconds: float
    network: object

    def summary(self):
        return {"final_train_acc": self.final_train_acc, "final_test_acc": self.final_test_acc,
                "train_acc": self.train_acc, "test_acc": self.test_acc, "train_loss": self.train_loss,
                "seconds": round(self.seconds, 3)}


class TwoBackendTraining:
    """Building and training networks on `backend` ('numpy', 'torch', or 'both' from the same weights, batches
    and dropout masks) in `dtype` ('float32' or 'float64'), torch on `device` ('auto', 'cpu', 'cuda') with
    `acceleration` (torch_impl.acceleration; a flag string or an Acceleration), weights drawn from `seed`,
    progress bars shown if `progress`. The agreement of the two backends goes to self.metrics."""

    def __init__(self, backend="numpy", dtype="float32", device="auto", seed=0, acceleration=None, progress=False):
        if backend not in BACKENDS + ("both",):
            raise ValueError(f"backend must be 'numpy', 'torch' or 'both'; got {backend!r}")
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(NUMPY_DTYPES)}; got {dtype!r}")
        self.backends = list(BACKENDS) if backend == "both" else [backend]
        self.dtype = dtype
        self.device = resolve_device(device)
        self.seed = seed
        self.acceleration = Acceleration.parse(acceleration)
        self.progress = progress
        self.metrics = {}

    @property
    def both(self):
        return len(self.backends) == 2

    def build(self, net, seed=None):
        """{backend: network}; with both backends the torch one gets the NumPy one's weights, and the
        NumPy one is switched to PyTorch's semantics (DESIGN.md) so that their curves compare exactly."""
        seed = self.seed if seed is None else seed
        networks = {}
        if "numpy" in self.backends:
            numpy_net = getattr(numpy_nets, net.kind)(*net.args, dtype=NUMPY_DTYPES[self.dtype],
                                                      rng=np.random.default_rng(seed), **net.kwargs)
            networks["numpy"] = match_torch_semantics(numpy_net) if self.both else numpy_net
        if "torch" in self.backends:
            torch.manual_seed(seed)
            torch_net = getattr(torch_nets, net.kind)(*net.args, dtype=TORCH_DTYPES[self.dtype], device=self.device,
                                                      **net.kwargs)
            networks["torch"] = numpy_to_torch(numpy_net, torch_net) if self.both else torch_net
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
        results, masks = {}, None
        for backend in sorted(networks, key=lambda b: b != "torch"):
            (x_train, t_train), (x_test, t_test) = data[backend]
            settings = dict(epochs=epochs, mini_batch_size=batch_size, optimizer=optimizer,
                            optimizer_param=optimizer_param or {"lr": 0.01}, verbose=False, seed=seed,
                            evaluate_sample_num_per_epoch=evaluate_sample_num_per_epoch,
                            allow_divergence=allow_divergence)
            network = networks[backend]
            if backend == "numpy" and masks is not None:
                replay_masks(network, masks)
            stop = None
            if backend == "torch":
                torch.manual_seed(seed)
                if self.both:
                    masks, stop = record_masks(network)
            with self.progress_bar(f"{label} [{backend}]") as bar:
                trainer_class = NumpyTrainer if backend == "numpy" else TorchTrainer
                extra = {} if backend == "numpy" else {"device": self.device, "acceleration": self.acceleration}
                trainer = trainer_class(network, x_train, t_train, x_test, t_test, progress=bar.step, **settings,
                                        **extra)
                start = time.perf_counter()
                final = trainer.train()
                seconds = time.perf_counter() - start
            if stop is not None:
                stop()
            evaluated = evaluate_sample_num_per_epoch or len(x_train)
            final_train = network.accuracy(trainer.x_train[:evaluated], trainer.t_train[:evaluated])
            results[backend] = TrainResult(list(map(float, trainer.train_loss_list)), trainer.train_acc_list,
                                           trainer.test_acc_list, final_train, final, seconds, network)
        if self.both:
            self.record_agreement(label, results)
        return results

    def record_agreement(self, label, results):
        """With both backends: how far apart their curves ended, recorded and printed."""
        numpy_result, torch_result = results["numpy"], results["torch"]
        loss_gap = float(np.max(np.abs(np.subtract(numpy_result.train_loss, torch_result.train_loss))))
        acc_gap = abs(numpy_result.final_test_acc - torch_result.final_test_acc)
        agreement = self.metrics.setdefault("backend_agreement", {})
        agreement[label] = {"max_loss_difference": loss_gap, "final_test_acc_difference": acc_gap}
        print(f"{label}: numpy and torch losses differ by at most {loss_gap:.2e}; "
              f"final test accuracies by {acc_gap:.4f}")

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
