"""The context an experiment runs in: its settings, its data, its outputs and its training.

An experiment is a function `run(ctx)` that reads its settings from the Context, trains or computes on
`ctx.backends`, draws figures with `ctx.save_figure` and records numbers with `ctx.record`. Outputs go to
`--out` (default runs/NAME/): PNG figures and metrics.json (experiments.outputs); training on either backend
or both is experiments.training.
"""
from numpy_impl.datasets import load_mnist as numpy_load_mnist
from torch_impl.datasets import load_mnist as torch_load_mnist

from .catalog import AGREEMENT, EXPERIMENTS, runs_as, unused_options
from .outputs import RunOutputs
from .training import TwoBackendTraining


class Context(RunOutputs, TwoBackendTraining):
    """The settings of one experiment run, its data, and (through its bases) its outputs and training."""

    def __init__(self, name, backend="numpy", device="auto", dataset="fashion-mnist", quick=False, seed=0,
                 epochs=None, out=None, dtype="float32", progress=True, acceleration=None, download=False,
                 trials=None, workers=1, storage=None, semantics="book"):
        TwoBackendTraining.__init__(self, backend, dtype, device, seed, acceleration, progress, semantics)
        self.name = name
        self.agreement = AGREEMENT.get(name)
        self.download = download
        self.dataset = dataset
        self.quick = quick
        self.epochs = epochs
        self.trials, self.workers, self.storage = trials, workers, storage
        settings = {"backend": backend, "device": str(self.device), "dataset": dataset, "quick": quick,
                    "seed": seed, "epochs": epochs, "dtype": dtype, "acceleration": str(self.acceleration),
                    "semantics": semantics}
        if name in EXPERIMENTS:  # what ran: the settings it uses, and what it runs on whatever the options say
            unused = unused_options(name)
            settings = {**{k: v for k, v in settings.items() if k not in unused}, **runs_as(name)}
        RunOutputs.__init__(self, name, out, settings, self.device)
        self._data = {}

    def save_figure(self, fig, filename):
        """RunOutputs.save_figure, a quick run's figure marked as one in its corner."""
        if self.quick:
            fig.text(0.998, 0.002, "--quick: a short run on a slice of the data", ha="right", va="bottom", fontsize=7,
                     color="0.35")
        RunOutputs.save_figure(self, fig, filename)

    def epochs_or(self, default, quick_default):
        """--epochs if given, else the experiment's default (its quick one with --quick)."""
        if self.epochs is not None:
            return self.epochs
        return quick_default if self.quick else default

    def trials_or(self, default, quick_default):
        """--trials if given, else the search's default (its quick one with --quick)."""
        if self.trials is not None:
            return self.trials
        return quick_default if self.quick else default

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
