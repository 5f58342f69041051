"""MNIST and Fashion-MNIST from their IDX files, parsed by hand like the book's
dataset/mnist.py, cached as .npz (never pickle). Where the files are found, and
how they are downloaded, is dlfs_common.dataset_files, which the torch loader shares.
"""
import gzip
import zipfile
from pathlib import Path

import numpy as np

from dlfs_common.dataset_files import (
    FILES,
    IMAGE_SHAPE,
    NUM_CLASSES,
    DatasetError,
    cache_path,
    check_split,
    locate_dataset,
)
from dlfs_common.files import atomic_write

IDX_UBYTE = 0x08


def read_idx(path, expected_ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes into an array with the file's shape.

    Raises DatasetError naming the file on a bad magic number, a wrong number
    of dimensions, or a data section shorter or longer than the header says.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path}: cannot be read ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DatasetError(
            f"{path}: bad magic number {raw[:4].hex() or '(empty file)'}; an IDX file of unsigned "
            f"bytes starts with 0x000008 followed by its number of dimensions"
        )
    ndim = raw[3]
    if ndim != expected_ndim:
        raise DatasetError(f"{path}: holds {ndim}-D data; expected {expected_ndim}-D")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, expected {header_size})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_size = int(np.prod(shape))
    data_size = len(raw) - header_size
    if data_size != expected_size:
        state = "truncated" if data_size < expected_size else "has trailing bytes"
        raise DatasetError(
            f"{path}: data {state}: {data_size} bytes after the header, which declares shape "
            f"{shape} ({expected_size} bytes)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_dataset(files):
    """Raw uint8 arrays {'train_img': (N, 28, 28), 'train_label': (N,), ...} from IDX files."""
    arrays = {key: read_idx(path, 3 if key.endswith("img") else 1) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_img"], arrays[f"{split}_label"]
        check_split(files[f"{split}_img"], files[f"{split}_label"], images, labels)
    return arrays


def load_raw(dataset="fashion-mnist", data_dir=None, cache_dir=None, download=False):
    """uint8 arrays {'train_img', 'train_label', 'test_img', 'test_label'}, from the cache when valid;
    download=True fetches the files (download_dataset) when none are found."""
    files = locate_dataset(dataset, data_dir, cache_dir, download)
    cache = cache_path(dataset, files, cache_dir)
    arrays = read_cache(cache)
    if arrays is not None:
        return arrays
    arrays = read_dataset(files)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as f:
            np.savez(f, **arrays)
    except OSError:
        pass  # a read-only cache folder only costs the parse next time
    return arrays


def read_cache(cache):
    """The arrays of the .npz cache, or None when it is missing, unreadable (cut short, not a zip, a key
    missing) or holds what read_dataset would refuse: then the caller rebuilds it from the IDX files."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in FILES}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_img"], arrays[f"{split}_label"]
            if images.dtype != np.uint8 or labels.dtype != np.uint8 or images.ndim != 3 or labels.ndim != 1:
                return None
            check_split(cache, cache, images, labels)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, DatasetError):
        return None
    return arrays


def to_one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    one_hot = np.zeros((labels.size, num_classes))
    one_hot[np.arange(labels.size), labels] = 1
    return one_hot


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False,
               dataset: str = "fashion-mnist", data_dir=None, cache_dir=None, download: bool = False) -> tuple:
    """Load MNIST or Fashion-MNIST as the book's load_mnist does.

    normalize: images as float32 in [0, 1] (else uint8 0..255).
    flatten: images as (N, 784) (else (N, 1, 28, 28)).
    one_hot_label: labels as float64 one-hot (N, 10) (else int64 (N,); the
    book's are uint8, widened here so they index and compare without surprise).
    download: fetch the files (download_dataset) when none are found.
    Returns ((x_train, t_train), (x_test, t_test)).
    """
    raw = load_raw(dataset, data_dir, cache_dir, download)
    result = []
    for split in ("train", "test"):
        x = raw[f"{split}_img"]
        x = x.astype(np.float32) / 255.0 if normalize else x.copy()
        x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), *IMAGE_SHAPE)
        t = raw[f"{split}_label"].astype(np.int64)
        result.append((x, to_one_hot(t) if one_hot_label else t))
    return tuple(result)
