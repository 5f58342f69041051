"""What every experiment shares: its settings, its outputs, and training on either backend.

An experiment is a function `run(ctx)` that reads its settings from the
Context, trains or computes on `ctx.backends`, draws figures with
`ctx.save_figure` and records numbers with `ctx.record`. Outputs go to
`--out` (default runs/NAME/): PNG figures and metrics.json, the latter
rewritten after every record, so a run stopped with Ctrl-C keeps what it had.
"""
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import numpy_impl.networks as numpy_nets  # noqa: E402
import torch_impl.networks as torch_nets  # noqa: E402
from numpy_impl.datasets import load_mnist as numpy_load_mnist  # noqa: E402
from dlfs_common.files import atomic_write  # noqa: E402
from numpy_impl.trainer import Trainer as NumpyTrainer  # noqa: E402
from parity.convert import numpy_to_torch  # noqa: E402
from parity.masks import record_masks, replay_masks  # noqa: E402
from parity.twins.networks import match_torch_semantics  # noqa: E402
from torch_impl.acceleration import Acceleration  # noqa: E402
from torch_impl.datasets import load_mnist as torch_load_mnist  # noqa: E402
from torch_impl.devices import resolve_device  # noqa: E402
from torch_impl.trainer import Trainer as TorchTrainer  # noqa: E402

BACKENDS = ("numpy", "torch")
NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
LINE_STYLES = {"numpy": "-", "torch": "--"}


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
        return {"final_train_acc": self.final_train_acc, "final_test_acc": self.final_test_acc, "train_acc": self.train_acc, "test_acc": self.test_acc,
                "train_loss": self.train_loss, "seconds": round(self.seconds, 3)}


class Context:
    """The settings of one experiment run and the place its outputs go."""

    def __init__(self, name, backend="numpy", device="auto", dataset="fashion-mnist", quick=False, seed=0,
                 epochs=None, out=None, dtype="float32", progress=True, acceleration=None, download=False):
        self.name = name
        self.download = download
        self.backends = list(BACKENDS) if backend == "both" else [backend]
        self.device = resolve_device(device)
        self.dataset = dataset
        self.quick = quick
        self.seed = seed
        self.epochs = epochs
        self.dtype = dtype
        self.progress = progress
        self.acceleration = Acceleration.parse(acceleration)
        self.out = Path(out) if out is not None else Path("runs") / name
        self.out.mkdir(parents=True, exist_ok=True)
        self.files = []
        self.metrics = {
            "experiment": name,
            "settings": {"backend": backend, "device": str(self.device), "dataset": dataset, "quick": quick,
                         "seed": seed, "epochs": epochs, "dtype": dtype, "acceleration": str(self.acceleration)},
            "machine": machine_description(self.device),
            "results": {},
        }
        self._data = {}
        self.started = time.perf_counter()

    @property
    def both(self):
        return len(self.backends) == 2

    def epochs_or(self, default, quick_default):
        """--epochs if given, else the experiment's default (its quick one with --quick)."""
        if self.epochs is not None:
            return self.epochs
        return quick_default if self.quick else default

    # outputs

    def record(self, key, value):
        """Store a result under metrics['results'][key] and rewrite metrics.json at once."""
        self.metrics["results"][key] = value
        self.write_metrics()

    def write_metrics(self, **extra):
        self.metrics.update(extra)
        self.metrics["wall_seconds"] = round(time.perf_counter() - self.started, 3)
        self._write(self.out / "metrics.json", json.dumps(to_json(self.metrics), indent=1).encode())

    def save_figure(self, fig, filename):
        """Write a figure as PNG via a temporary file, so an interrupted run never leaves half a file."""
        try:
            with atomic_write(self.out / filename) as f:
                fig.savefig(f, format="png", dpi=110)
        finally:
            plt.close(fig)
        self._remember(self.out / filename)

    def _write(self, path, data):
        with atomic_write(path) as f:
            f.write(data)
        self._remember(path)

    def _remember(self, path):
        if path not in self.files:
            self.files.append(path)

    # data

    def data(self, flatten=True, train_size=None, test_size=None):
        """{backend: ((x_train, t_train), (x_test, t_test))}: the same images for both backends, the
        torch ones loaded through torchvision onto the device. Sizes cut the sets to their first N."""
        key = (flatten, train_size, test_size)
        if key not in self._data:
            loaded = {}
            for backend in self.backends:
                load = numpy_load_mnist if backend == "numpy" else torch_load_mnist
                kwargs = {} if backend == "numpy" else {"device": self.device}
                (x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=flatten, dataset=self.dataset,
                                                            download=self.download, **kwargs)
                loaded[backend] = ((x_train[:train_size], t_train[:train_size]),
                                   (x_test[:test_size], t_test[:test_size]))
            self._data[key] = loaded
        return self._data[key]

    # networks and training

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

    def summary(self, line):
        print(line)
        self.metrics.setdefault("summary", []).append(line)


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


def machine_description(device):
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}"


def to_json(value):
    """Make NumPy and torch scalars and arrays JSON-serialisable."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN or infinity (a diverged run)
    if isinstance(value, Path):
        return str(value)
    return value


def save_training_figure(ctx, results, filename, title, epoch_label="epoch"):
    """Loss per step and train/test accuracy per epoch of one training run, {backend: TrainResult}."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    plot_curves(ax_loss, {"train loss": {b: r.train_loss for b, r in results.items()}}, "loss")
    plot_curves(ax_acc, {"train": {b: r.train_acc for b, r in results.items()},
                         "test": {b: r.test_acc for b, r in results.items()}}, "accuracy")
    ax_loss.set_xlabel("step")
    ax_acc.set_xlabel(epoch_label)
    fig.suptitle(title)
    fig.tight_layout()
    ctx.save_figure(fig, filename)


def plot_curves(ax, curves, ylabel, smooth=None):
    """Overlay curves {label: {backend: values}}; NumPy solid, torch dashed, one colour per label."""
    for index, (label, by_backend) in enumerate(curves.items()):
        for backend, values in by_backend.items():
            values = np.asarray(values, dtype=float)
            if smooth is not None and len(values):
                values = smooth(values)
            name = label if len(by_backend) == 1 else f"{label} ({backend})"
            ax.plot(values, LINE_STYLES[backend], color=f"C{index % 10}", label=name)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
