"""The hand-written IDX loader: real Fashion-MNIST, and every malformed file named."""
import gzip
import struct

import numpy as np
import pytest

from dlfs_common import dataset_files
from dlfs_common.dataset_files import DatasetError
from numpy_impl import datasets
from numpy_impl.datasets import load_mnist, read_idx


def write_idx(path, array, magic=None, truncate=0, compress=True):
    array = np.asarray(array, dtype=np.uint8)
    header = magic if magic is not None else bytes([0, 0, 8, array.ndim])
    data = header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    data = data[:len(data) - truncate]
    (gzip.open if compress else open)(path, "wb").write(data)


def make_dataset(folder, n_train=6, n_test=4, **overrides):
    """Write a small valid IDX dataset; overrides maps file key -> (array, write_idx kwargs)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    content = {
        "train_img": rng.integers(0, 256, (n_train, 28, 28)), "train_label": rng.integers(0, 10, n_train),
        "test_img": rng.integers(0, 256, (n_test, 28, 28)), "test_label": rng.integers(0, 10, n_test),
    }
    for key, stem in dataset_files.FILES.items():
        array, kwargs = overrides.get(key, (content[key], {}))
        write_idx(folder / (stem + ".gz"), array, **kwargs)
    return content


def test_small_dataset_round_trip_and_book_options(tmp_path, cache_dir):
    content = make_dataset(tmp_path / "data")
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=tmp_path / "data")
    assert x_train.shape == (6, 784) and x_train.dtype == np.float32
    np.testing.assert_array_equal(x_train, content["train_img"].reshape(6, -1).astype(np.float32) / 255)
    np.testing.assert_array_equal(t_test, content["test_label"])
    assert t_train.dtype == np.int64
    (x_raw, t_one_hot), _ = load_mnist(normalize=False, flatten=False, one_hot_label=True, data_dir=tmp_path / "data")
    assert x_raw.shape == (6, 1, 28, 28) and x_raw.dtype == np.uint8
    np.testing.assert_array_equal(t_one_hot.argmax(axis=1), content["train_label"])
    assert len(list(cache_dir.glob("fashion-mnist-*.npz"))) == 1


def test_environment_variable_and_uncompressed_files(tmp_path, cache_dir, monkeypatch):
    folder = tmp_path / "env" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((2, 28, 28)), compress=False)
    write_idx(folder / "train-labels-idx1-ubyte", [1, 2], compress=False)
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((1, 28, 28)), compress=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", [3], compress=False)
    monkeypatch.setenv(dataset_files.DATA_DIR_ENV, str(tmp_path / "env"))
    (_, t_train), (_, t_test) = load_mnist(dataset="mnist")
    assert list(t_train) == [1, 2] and list(t_test) == [3]


@pytest.mark.parametrize("key, override, message", [
    ("train_img", (np.zeros((6, 28, 28)), {"magic": b"\x00\x00\x08\x02"}), "holds 2-D data; expected 3-D"),
    ("train_label", (np.zeros(6), {"magic": b"\x12\x34\x08\x01"}), "bad magic number 12340801"),
    ("test_img", (np.zeros((4, 28, 28)), {"truncate": 100}), "data truncated"),
    ("test_label", (np.zeros(5), {}), "holds 4 images but .*t10k-labels-idx1-ubyte.gz holds 5 labels"),
    ("train_label", (np.full(6, 12), {}), "label 12 is not in 0..9"),
])
def test_malformed_files_are_named_and_leave_no_cache(tmp_path, cache_dir, key, override, message):
    make_dataset(tmp_path / "data", **{key: override})
    with pytest.raises(DatasetError, match=message) as error:
        load_mnist(data_dir=tmp_path / "data")
    assert "-idx" in str(error.value)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_failed_cache_write_leaves_nothing_behind(tmp_path, cache_dir, monkeypatch):
    make_dataset(tmp_path / "data")

    def broken_savez(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        load_mnist(data_dir=tmp_path / "data")
    assert not any(cache_dir.iterdir())


def test_corrupt_cache_is_rebuilt(tmp_path, cache_dir):
    make_dataset(tmp_path / "data")
    expected = load_mnist(data_dir=tmp_path / "data")
    (cache_file,) = cache_dir.iterdir()
    cache_file.write_bytes(b"not an npz")
    again = load_mnist(data_dir=tmp_path / "data")
    np.testing.assert_array_equal(again[0][0], expected[0][0])


def test_missing_dataset_says_how_to_get_it(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(dataset_files, "SYSTEM_DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_mnist(data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="MNIST files.*DLFS_DATA_DIR"):
        load_mnist(dataset="mnist", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        load_mnist(dataset="cifar10")


def test_empty_file_is_named(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty.*bad magic number \\(empty file\\)"):
        read_idx(tmp_path / "empty", 1)


def test_real_fashion_mnist(fashion_mnist, cache_dir):
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.uint8 and np.bincount(t_train).tolist() == [6000] * 10
    assert np.bincount(t_test).tolist() == [1000] * 10
    # the first training image of Fashion-MNIST is an ankle boot (class 9)
    assert t_train[0] == 9
