import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs `-n auto`), each worker gets an equal share of the cores for its BLAS
    and torch threads, and so do the processes its tests start (torch_impl.devices.share_cores). No verdict
    depends on the thread count (CI reruns the golden tests and the parity suite on one thread). Freed memory is
    kept for the next arrays, as the Trainers keep it (dlfs_common.memory)."""
    from dlfs_common.memory import keep_freed_memory

    keep_freed_memory()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        from torch_impl.devices import share_cores

        share_cores(workers)


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
