"""MNIST and Fashion-MNIST through torchvision.datasets, from the same files numpy_impl reads.

torchvision wants the four IDX files uncompressed under
`<root>/<FashionMNIST|MNIST>/raw/`; they are unpacked once into the cache
folder next to numpy_impl's `.npz` cache (where that folder cannot be written, into a temporary folder
removed once loaded, as the NumPy side parses without a cache). Nothing is downloaded unless
`download=True` is asked for and the files are not on disk; then both loaders
share dlfs_common.dataset_files.download_dataset.
"""
import gzip
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import torch.nn.functional as F
from torchvision import datasets as tv_datasets

from dlfs_common.dataset_files import (
    CACHE_DIR_ENV,
    FILES,
    IMAGE_SHAPE,
    NUM_CLASSES,
    DatasetError,
    cache_path,
    check_split,
    idx_file_is_complete,
    locate_dataset,
)
from dlfs_common.files import atomic_write

from .devices import resolve_device

TORCHVISION_CLASSES = {"fashion-mnist": tv_datasets.FashionMNIST, "mnist": tv_datasets.MNIST}


def _unpack(source, target):
    """Copy (gunzipping if needed) source to target; never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as out, (gzip.open if source.suffix == ".gz" else open)(source, "rb") as f:
        shutil.copyfileobj(f, out)


def unpack_for_torchvision(dataset, files, root) -> None:
    """Unpack `files` (where no complete copy is there already) into `root` as torchvision reads them; OSError
    where `root` cannot be written."""
    raw = Path(root) / TORCHVISION_CLASSES[dataset].__name__ / "raw"
    for key, source in files.items():
        target = raw / FILES[key]
        if not idx_file_is_complete(target):  # missing, or a copy cut short or spoiled: unpacked again
            _unpack(source, target)


def torchvision_root(dataset, files, cache_dir, cleanup: ExitStack):
    """A torchvision root folder holding `files` unpacked: in the cache folder, or, where it cannot be
    written, a temporary folder that `cleanup` removes."""
    root = cache_path(dataset, files, cache_dir).with_suffix("")
    try:
        unpack_for_torchvision(dataset, files, root)
        return root
    except OSError as cache_error:
        try:
            temporary = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dlfs-torchvision-")))
            unpack_for_torchvision(dataset, files, temporary)
            return temporary
        except OSError as error:
            raise DatasetError(f"cannot write the unpacked copies of {dataset}'s files that torchvision reads, "
                               f"neither into {root} ({cache_error.strerror or cache_error}) nor into a temporary "
                               f"folder ({error.strerror or error}); set {CACHE_DIR_ENV} to a writable folder, or "
                               "pass cache_dir=") from None


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
    naming the files for what the NumPy loader refuses (dlfs_common.dataset_files.check_split): image and
    label counts that differ, images not 28x28, a label outside 0..9.
    """
    device = resolve_device(device)
    if dataset not in TORCHVISION_CLASSES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {tuple(TORCHVISION_CLASSES)}")
    files = locate_dataset(dataset, data_dir, cache_dir, download)
    result = []
    with ExitStack() as cleanup:
        root = torchvision_root(dataset, files, cache_dir, cleanup)
        splits = [TORCHVISION_CLASSES[dataset](str(root), train=train) for train in (True, False)]
    for train, split in zip((True, False), splits):
        x, t = split.data, split.targets
        split_name = "train" if train else "test"
        check_split(files[f"{split_name}_img"], files[f"{split_name}_label"], x, t)
        x = x.float() / 255.0 if normalize else x.clone()
        x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), *IMAGE_SHAPE)
        t = F.one_hot(t, NUM_CLASSES).double() if one_hot_label else t.long()
        result.append((x.to(device), t.to(device)))
    return tuple(result)
