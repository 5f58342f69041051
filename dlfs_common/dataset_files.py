"""The dataset files on disk, which both twins' loaders read: where they are looked for, how they are
downloaded (torchvision's downloader: its mirrors and checksums), where the caches live.

Where the files are looked for, in order: the `data_dir` argument, the
environment variable DLFS_DATA_DIR (the folder itself or its `<dataset>`
subfolder), Debian's `/usr/share/datasets/<dataset>` (the package
`dataset-fashion-mnist`), and `<cache>/downloads/<dataset>`, where
`download_dataset` (load_mnist(download=True)) puts them. Each file may be
gzipped (`.gz`) or not.
"""
import hashlib
import os
import tempfile
from pathlib import Path

DATASETS = ("fashion-mnist", "mnist")
DATA_DIR_ENV = "DLFS_DATA_DIR"
CACHE_DIR_ENV = "DLFS_CACHE_DIR"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
FILES = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class DatasetError(ValueError):
    """A dataset file is malformed; the message names the file."""


def check_split(image_file, label_file, images, labels) -> None:
    """Raise DatasetError naming the files unless a split's images (an array or tensor (N, 28, 28)) are 28x28, as
    many as its labels, and every label is a class 0..9. Both loaders check what they read with it."""
    if len(images) != len(labels):
        raise DatasetError(f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels")
    if tuple(images.shape[-2:]) != IMAGE_SHAPE[1:]:
        raise DatasetError(f"{image_file}: images are {tuple(images.shape[1:])}; expected 28x28")
    if len(labels) and int(labels.max()) >= NUM_CLASSES:
        raise DatasetError(f"{label_file}: label {int(labels.max())} is not in 0..{NUM_CLASSES - 1}")


def idx_file_is_complete(path) -> bool:
    """Whether the uncompressed IDX file at `path` is as long as its header says (a copy cut short is not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08":
                return False
            dims = f.read(4 * head[3])
        if len(dims) < 4 * head[3]:
            return False
        size = 1
        for index in range(head[3]):
            size *= int.from_bytes(dims[4 * index:4 * index + 4], "big")
        return Path(path).stat().st_size == 4 + 4 * head[3] + size
    except OSError:
        return False


def candidate_dirs(dataset, data_dir=None):
    """The folders searched for `dataset`'s files, in order."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get(DATA_DIR_ENV):
        env_dir = Path(os.environ[DATA_DIR_ENV])
        dirs += [env_dir / dataset, env_dir]
    dirs += [SYSTEM_DATA_DIR / dataset, download_dir(dataset)]
    return dirs


def _file_in(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_dataset_files(dataset="fashion-mnist", data_dir=None):
    """{'train_img': Path, ...} for the first folder holding all four IDX files."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    searched = candidate_dirs(dataset, data_dir)
    for folder in searched:
        files = {key: _file_in(folder, stem) for key, stem in FILES.items()}
        if all(files.values()):
            return files
    how = ("install Debian's package: sudo apt-get install dataset-fashion-mnist"
           if dataset == "fashion-mnist" else
           "download the four MNIST files (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/)")
    raise FileNotFoundError(
        f"{dataset} not found: no folder among {[str(d) for d in searched]} holds all of "
        f"{[stem + '[.gz]' for stem in FILES.values()]}. To get it, {how}, "
        f"then pass data_dir= or set {DATA_DIR_ENV} to the folder; or let load_mnist(download=True) "
        f"(the experiments' --download) fetch it."
    )


def download_dir(dataset, cache_dir=None):
    """The folder download_dataset writes `dataset`'s files to."""
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "downloads" / dataset


def download_dataset(dataset="fashion-mnist", cache_dir=None):
    """Fetch `dataset`'s four gzipped IDX files with torchvision's downloader (its mirrors, tried in
    order, and its MD5 checksums) into download_dir(dataset, cache_dir); returns that folder.

    All four land in a temporary folder first and are moved into place only once each has passed
    its checksum, so a failed or interrupted download leaves nothing half-written behind. Raises
    DatasetError naming every URL tried and why it failed.
    """
    from torchvision import datasets as torchvision_datasets
    from torchvision.datasets.utils import download_url

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    source = {"fashion-mnist": torchvision_datasets.FashionMNIST, "mnist": torchvision_datasets.MNIST}[dataset]
    target = download_dir(dataset, cache_dir)
    if all((target / filename).is_file() for filename, _ in source.resources):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{dataset}-") as partial:
        for filename, md5 in source.resources:
            failures = []
            for mirror in source.mirrors:
                try:
                    download_url(f"{mirror}{filename}", partial, filename=filename, md5=md5)
                    break
                except (OSError, RuntimeError, ValueError) as error:  # HTTP errors, refused, bad checksum
                    failures.append(f"{mirror}{filename}: {error}")
                    Path(partial, filename).unlink(missing_ok=True)
            else:
                raise DatasetError(f"could not download {dataset}'s {filename}; tried " + "; ".join(failures))
        target.mkdir(exist_ok=True)
        for filename, _ in source.resources:
            os.replace(Path(partial, filename), target / filename)
    return target


def locate_dataset(dataset="fashion-mnist", data_dir=None, cache_dir=None, download=False):
    """find_dataset_files; where none are found and download=True, the files download_dataset fetches."""
    try:
        return find_dataset_files(dataset, data_dir)
    except FileNotFoundError:
        if not download:
            raise
        return find_dataset_files(dataset, download_dataset(dataset, cache_dir))


def default_cache_dir():
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "dlfs-twins")


def cache_path(dataset, files, cache_dir=None):
    """The .npz cache for these files: its name changes with their location, size and mtime."""
    fingerprint = hashlib.sha256()
    for key in sorted(files):
        stat = files[key].stat()
        fingerprint.update(f"{files[key].resolve()}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{dataset}-{fingerprint.hexdigest()[:16]}.npz"
