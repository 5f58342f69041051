"""Shared test helpers: the golden fixtures and one error measure."""
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO / "golden"
SHARED_GOLDEN_DIR = REPO.parent / "shared" / "golden"


def load_golden(name):
    """The fixture golden/<name>.npz as a dict of arrays (no pickle)."""
    with np.load(GOLDEN_DIR / f"{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def golden_images(fixture, flatten):
    """The fixture's uint8 images as the book feeds them: float64 / 255."""
    x = fixture["x_uint8"].astype(np.float64) / 255
    return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)


def max_rel_err(actual, expected):
    """max |actual - expected| / max |expected|: an error relative to the array's scale,
    so that elements near zero do not blow it up."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    return float(np.max(np.abs(actual - expected)) / scale) if scale else float(np.max(np.abs(actual)))


def assert_close(actual, expected, rtol, name="", atol=0.0):
    """Pass when max_rel_err <= rtol, or when every element is within atol (for arrays of
    rounding noise, such as the gradient of a bias that a batch norm cancels)."""
    err = max_rel_err(actual, expected)
    abs_err = float(np.max(np.abs(np.asarray(actual, dtype=np.float64) - expected))) if np.size(expected) else 0.0
    assert err <= rtol or abs_err <= atol, f"{name}: max relative error {err:.3e} > {rtol:.0e}"


def numerical_grad_check(f, arrays, rtol=1e-6, name=""):
    """Compare analytic grads to central differences of scalar f() for each (array, grad) pair."""
    from numpy_impl.gradient import numerical_gradient
    for key, (array, grad) in arrays.items():
        expected = numerical_gradient(lambda _: f(), array)
        assert_close(grad, expected, rtol, f"{name} d{key}")
