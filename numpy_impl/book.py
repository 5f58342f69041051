"""python -m numpy_impl.book: run a script of the book's repository unchanged, on numpy_impl.

The book's scripts (ch04/ to ch08/ of oreilly-japan/deep-learning-from-scratch) import the packages
`common` and `dataset` from the folder above them, and their chapter's network module from their own
folder. Here those imports are served by numpy_impl (BOOK_MODULES, CHAPTER_MODULES) before the script
runs, in its own folder as it expects, with its arguments; `dataset.mnist` loads Fashion-MNIST (or MNIST,
--dataset mnist) through numpy_impl.datasets. The book's own files of other names (gradient_2d.py,
layer_naive.py, its pickled weights) are used as they are; the weights through numpy_impl.safe_pickle.
Where the book is more permissive than numpy_impl, the book's way holds while its script runs: batch norm
trains on a batch of one (BatchNormalization.allow_single_sample).

    python -m numpy_impl.book [--dataset mnist] [--figures DIR] path/to/ch05/train_neuralnet.py
    python -m numpy_impl.book convert-weights ch08/deep_convnet_params.pkl deep_convnet.npz
"""
import argparse
import importlib
import os
import runpy
import sys
import types
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

from dlfs_common.dataset_files import FILES, download_dataset
from dlfs_common.files import atomic_write
from dlfs_common.memory import keep_freed_memory

from . import datasets
from .layers import BatchNormalization
from .safe_pickle import is_pickle, load_array_dict

# the book's module: the numpy_impl module that serves it
BOOK_MODULES = {
    "common.functions": "numpy_impl.functions",
    "common.gradient": "numpy_impl.gradient",
    "common.layers": "numpy_impl.layers",
    "common.optimizer": "numpy_impl.optimizers",
    "common.trainer": "numpy_impl.trainer",
    "common.util": "numpy_impl.util",
    "common.multi_layer_net": "numpy_impl.networks.multi_layer_net",
    "common.multi_layer_net_extend": "numpy_impl.networks.multi_layer_net_extend",
}
# chapter folder: {the network module a script imports from its folder: (numpy_impl module, {book name: ours})}
CHAPTER_MODULES = {
    "ch04": {"two_layer_net": ("numpy_impl.networks.sigmoid_two_layer_net", {"TwoLayerNet": "SigmoidTwoLayerNet"})},
    "ch05": {"two_layer_net": ("numpy_impl.networks.two_layer_net", {"TwoLayerNet": "TwoLayerNet"})},
    "ch07": {"simple_convnet": ("numpy_impl.networks.simple_convnet", {"SimpleConvNet": "SimpleConvNet"})},
    "ch08": {"deep_convnet": ("numpy_impl.networks.deep_convnet", {"DeepConvNet": "DeepConvNet"})},
}


def mnist_module(dataset: str, download: bool) -> types.ModuleType:
    """The book's dataset.mnist, reading `dataset` through numpy_impl.datasets (labels int64, not uint8)."""
    module = types.ModuleType("dataset.mnist", f"The book's dataset.mnist, served by numpy_impl: {dataset}.")

    def load_mnist(normalize=True, flatten=True, one_hot_label=False):
        return datasets.load_mnist(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                                   dataset=dataset, download=download)

    def init_mnist():
        datasets.load_raw(dataset, download=download)

    def download_mnist():
        download_dataset(dataset)

    module.__dict__.update(
        load_mnist=load_mnist, init_mnist=init_mnist, download_mnist=download_mnist,
        key_file={key: f"{stem}.gz" for key, stem in FILES.items()},
        train_num=60000, test_num=10000, img_dim=(1, 28, 28), img_size=784)
    return module


def served_modules(chapter: str, dataset: str, download: bool) -> dict[str, types.ModuleType]:
    """{module name: module} that a script in folder `chapter` gets for the book's imports."""
    modules = {}
    for package in ("common", "dataset"):
        modules[package] = types.ModuleType(package, f"The book's {package} package, served by numpy_impl.")
        modules[package].__path__ = []
    for book_name, ours in BOOK_MODULES.items():
        modules[book_name] = importlib.import_module(ours)
    modules["dataset.mnist"] = mnist_module(dataset, download)
    for name, module in modules.items():
        if "." in name:
            package, attribute = name.split(".")
            setattr(modules[package], attribute, module)
    for module_name, (ours, names) in CHAPTER_MODULES.get(chapter, {}).items():
        source = importlib.import_module(ours)
        module = types.ModuleType(module_name, f"The book's {chapter}/{module_name}.py, served by {ours}.")
        module.__dict__.update({book: getattr(source, own) for book, own in names.items()})
        modules[module_name] = module
    return modules


@contextmanager
def book_environment(script: Path, args: list[str], modules: dict, figures: Path | None):
    """Within: the served modules in sys.modules, the script's folder as working directory and first on
    sys.path, sys.argv as the script expects, and (with `figures`) plt.show saving the open figures there.
    Everything is restored on leaving."""
    saved_modules = {name: sys.modules.get(name) for name in modules}
    saved = (os.getcwd(), list(sys.argv), list(sys.path))
    sys.modules.update(modules)
    os.chdir(script.parent)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))
    restore_show = save_figures_on_show(script.stem, figures) if figures is not None else None
    single_sample = BatchNormalization.allow_single_sample
    BatchNormalization.allow_single_sample = True  # the book trains batch norm on one sample; torch refuses
    try:
        yield
    finally:
        BatchNormalization.allow_single_sample = single_sample
        if restore_show is not None:
            restore_show()
        os.chdir(saved[0])
        sys.argv[:], sys.path[:] = saved[1], saved[2]
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def save_figures_on_show(stem: str, folder: Path):
    """Make plt.show write every open figure to folder/STEM-N.png (and close it); returns the undo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    original, count = plt.show, [0]

    def show(*args, **kwargs):
        for number in plt.get_fignums():
            count[0] += 1
            path = folder / f"{stem}-{count[0]}.png"
            plt.figure(number).savefig(path)
            print(f"[numpy_impl.book] figure written to {path}", file=sys.stderr)
        plt.close("all")

    plt.show = show

    def undo():
        plt.show = original
    return undo


@contextmanager
def pickled_weights_noted(dataset: str):
    """Within, for data other than MNIST: a line on stderr whenever a script loads a pickled parameter file,
    the form of the book's published weights (save_params writes an .npz), which the book trained on MNIST: on
    other data their accuracy says nothing about the code."""
    from .networks import base
    read = base.read_parameter_file

    def reading(file_name):
        arrays = read(file_name)
        with open(file_name, "rb") as f:
            if is_pickle(f.read(1)):
                print(f"[numpy_impl.book] {file_name} is a pickle, as the book's published weights are, which it "
                      f"trained on MNIST: scored on {dataset} their accuracy means nothing (--dataset mnist "
                      "scores them as the book does)", file=sys.stderr)
        return arrays
    base.read_parameter_file = reading
    try:
        yield
    finally:
        base.read_parameter_file = read


def run_book_script(script, args=(), dataset="fashion-mnist", download=False, figures=None, seed=None) -> None:
    """Run the book's `script` (a path into its ch04..ch08 folders) unchanged, on numpy_impl; `seed`, if given,
    seeds NumPy's global generator first (np.random.seed), which the book's code draws from."""
    script = Path(script).resolve()
    if not script.is_file():
        raise FileNotFoundError(f"no script {script}")
    modules = served_modules(script.parent.name, dataset, download)
    keep_freed_memory()  # the book's training loops reuse each step's memory: see dlfs_common.memory
    noted = pickled_weights_noted(dataset) if dataset != "mnist" else nullcontext()
    with book_environment(script, list(args), modules, None if figures is None else Path(figures).resolve()), noted:
        if seed is not None:
            np.random.seed(seed)
        runpy.run_path(str(script), run_name="__main__")


def convert_weights(source, target) -> list[str]:
    """Write the book's pickled parameter file `source` as an .npz `target` (numpy_impl's format), reading it
    without running it; returns the parameter names."""
    arrays = load_array_dict(Path(source).read_bytes(), str(source))
    with atomic_write(target) as f:
        np.savez(f, **arrays)
    return sorted(arrays)


def mapping_text() -> str:
    lines = [f"  {book:32} <- {ours}" for book, ours in BOOK_MODULES.items()]
    lines.append(f"  {'dataset.mnist':32} <- numpy_impl.datasets (--dataset, --download)")
    for chapter, modules in CHAPTER_MODULES.items():
        for name, (ours, names) in modules.items():
            renamed = ", ".join(f"{book} = {own}" for book, own in names.items())
            lines.append(f"  {chapter + '/' + name:32} <- {ours} ({renamed})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["convert-weights"]:
        parser = argparse.ArgumentParser(
            prog="python -m numpy_impl.book convert-weights",
            description="Write a pickled parameter file of the book (a dict of NumPy arrays) as an .npz that "
                        "load_params reads; the pickle is read without running it, and refused if it asks for "
                        "anything but NumPy arrays.")
        parser.add_argument("source", type=Path, help="the book's .pkl file")
        parser.add_argument("target", type=Path, help="the .npz to write")
        args = parser.parse_args(argv[1:])
        try:
            names = convert_weights(args.source, args.target)
        except (OSError, ValueError) as error:
            print(f"python -m numpy_impl.book convert-weights: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.target}: {', '.join(names)}")
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m numpy_impl.book", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a script of the book's repository (its ch04..ch08 folders) unchanged, on numpy_impl. "
                    "Its imports are served as follows:\n" + mapping_text(),
        epilog="python -m numpy_impl.book convert-weights FILE.pkl FILE.npz converts the book's pickled weights.")
    parser.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist",
                        help="what dataset.mnist.load_mnist returns (default fashion-mnist)")
    parser.add_argument("--download", action="store_true", help="fetch the dataset's files if they are not on disk")
    parser.add_argument("--figures", type=Path, metavar="DIR",
                        help="save the figures a script shows as DIR/SCRIPT-N.png instead of opening windows")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed NumPy's global generator before the script runs (the book's code draws from it)")
    parser.add_argument("script", type=Path, help="the book's script, e.g. ch05/train_neuralnet.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    args = parser.parse_args(argv)
    if not args.script.is_file():
        parser.error(f"no script {args.script}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0; got {args.seed}")
    run_book_script(args.script, args.args, args.dataset, args.download, args.figures, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
