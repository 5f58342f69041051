"""MNIST and Fashion-MNIST through torchvision.datasets, from the same files numpy_impl reads.

torchvision wants the four IDX files uncompressed under
`<root>/<FashionMNIST|MNIST>/raw/`; they are unpacked once into the cache
folder next to numpy_impl's `.npz` cache. Nothing is downloaded unless
`download=True` is asked for and the files are not on disk; then both loaders
share dlfs_common.dataset_files.download_dataset.
"""
import gzip
import shutil

import torch.nn.functional as F
from torchvision import datasets as tv_datasets

from dlfs_common.dataset_files import (
    FILES,
    IMAGE_SHAPE,
    NUM_CLASSES,
    DatasetError,
    cache_path,
    download_dataset,
    find_dataset_files,
)
from dlfs_common.files import atomic_write

from .devices import resolve_device

TORCHVISION_CLASSES = {"fashion-mnist": tv_datasets.FashionMNIST, "mnist": tv_datasets.MNIST}


def _unpack(source, target):
    """Copy (gunzipping if needed) source to target; never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as out, (gzip.open if source.suffix == ".gz" else open)(source, "rb") as f:
        shutil.copyfileobj(f, out)


def torchvision_root(dataset="fashion-mnist", data_dir=None, cache_dir=None):
    """A torchvision root folder holding `dataset`'s local IDX files, unpacked on first use."""
    files = find_dataset_files(dataset, data_dir)
    root = cache_path(dataset, files, cache_dir).with_suffix("")
    raw = root / TORCHVISION_CLASSES[dataset].__name__ / "raw"
    for key, source in files.items():
        target = raw / FILES[key]
        if not target.is_file():
            _unpack(source, target)
    return root


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False,
               dataset: str = "fashion-mnist", data_dir=None, cache_dir=None, device="cpu",
               download: bool = False) -> tuple:
    """Like numpy_impl.datasets.load_mnist, as tensors on `device`.

    Returns ((x_train, t_train), (x_test, t_test)); x float32 in [0, 1] (or
    uint8), (N, 784) or (N, 1, 28, 28); t int64 (N,) or float64 one-hot (N, 10):
    element by element what the NumPy loader returns.
    download=True fetches the files when none are found, as the NumPy loader
    does (dlfs_common.dataset_files.download_dataset: torchvision's downloader).
    device: 'cpu', 'cuda' or 'auto' (CUDA when present). Raises DatasetError
    naming the files when a split's image and label counts differ.
    """
    device = resolve_device(device)
    if dataset not in TORCHVISION_CLASSES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {tuple(TORCHVISION_CLASSES)}")
    try:
        root = torchvision_root(dataset, data_dir, cache_dir)
    except FileNotFoundError:
        if not download:
            raise
        root = torchvision_root(dataset, download_dataset(dataset, cache_dir), cache_dir)
    result = []
    for train in (True, False):
        split = TORCHVISION_CLASSES[dataset](str(root), train=train)
        x, t = split.data, split.targets
        if len(x) != len(t):
            files = [FILES["train_img" if train else "test_img"], FILES["train_label" if train else "test_label"]]
            raise DatasetError(f"{dataset} files {files} under {root} hold {len(x)} images but {len(t)} labels")
        x = x.float() / 255.0 if normalize else x.clone()
        x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), *IMAGE_SHAPE)
        t = F.one_hot(t, NUM_CLASSES).double() if one_hot_label else t.long()
        result.append((x.to(device), t.to(device)))
    return tuple(result)
