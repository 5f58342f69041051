import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def fashion_mnist():
    """The real Fashion-MNIST files, or a skip that says how to get them."""
    from numpy_impl.datasets import find_dataset_files
    try:
        return find_dataset_files("fashion-mnist")
    except FileNotFoundError as error:
        pytest.skip(str(error))
