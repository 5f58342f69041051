import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs `-n auto`), each worker gets an equal share of the cores for its BLAS
    and torch threads, and so do the processes its tests start: two workers that both spin up as many OpenMP
    threads as there are cores slow each other down several times over. No verdict depends on the thread count
    (CI reruns the golden tests and the parity suite on one thread)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


@pytest.fixture
def fashion_mnist():
    """The real Fashion-MNIST files, or a skip that says how to get them."""
    from dlfs_common.dataset_files import find_dataset_files
    try:
        return find_dataset_files("fashion-mnist")
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh dataset cache folder, and no DLFS_DATA_DIR from the caller's environment."""
    from dlfs_common.dataset_files import CACHE_DIR_ENV, DATA_DIR_ENV
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    return tmp_path / "cache"
