"""torch_impl.datasets (torchvision) returns what numpy_impl.datasets returns, element by element."""
import itertools

import pytest
import torch
from test_datasets import make_dataset

from dlfs_common import dataset_files
from numpy_impl import datasets as numpy_datasets
from torch_impl.datasets import load_mnist


def assert_same(torch_result, numpy_result):
    for (x, t), (x_np, t_np) in zip(torch_result, numpy_result):
        assert x.dtype == torch.from_numpy(x_np).dtype and t.dtype == torch.from_numpy(t_np).dtype
        assert torch.equal(x, torch.from_numpy(x_np)) and torch.equal(t, torch.from_numpy(t_np))


@pytest.mark.parametrize("normalize, flatten, one_hot", list(itertools.product([True, False], repeat=3)))
def test_small_dataset_every_option(tmp_path, cache_dir, normalize, flatten, one_hot):
    make_dataset(tmp_path / "data")
    options = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot, data_dir=tmp_path / "data")
    assert_same(load_mnist(**options), numpy_datasets.load_mnist(**options))


def test_missing_files_are_not_downloaded(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(dataset_files, "SYSTEM_DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_mnist(data_dir=tmp_path)


def test_real_fashion_mnist_equals_the_numpy_loader(fashion_mnist, cache_dir):
    assert_same(load_mnist(), numpy_datasets.load_mnist())


@pytest.mark.parametrize("split", ["train", "test"])
def test_images_and_labels_of_different_counts_are_refused_on_both_sides(tmp_path, cache_dir, split):
    import numpy as np
    make_dataset(tmp_path / "data", **{f"{split}_label": (np.zeros(3 if split == "train" else 2), {})})
    with pytest.raises(dataset_files.DatasetError, match="holds [46] images but .* holds [32] labels") as numpy_error:
        numpy_datasets.load_mnist(data_dir=tmp_path / "data")
    with pytest.raises(dataset_files.DatasetError) as torch_error:
        load_mnist(data_dir=tmp_path / "data")
    assert str(torch_error.value) == str(numpy_error.value)  # one check, one message, naming the user's files


def test_the_device_may_be_auto(tmp_path, cache_dir):
    make_dataset(tmp_path / "data")
    (x, _), _ = load_mnist(data_dir=tmp_path / "data", device="auto")
    assert x.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
