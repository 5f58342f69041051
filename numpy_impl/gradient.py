"""Numerical differentiation and gradient descent (the book's chapter 4)."""
from collections.abc import Callable

import numpy as np

from dlfs_common.checks import is_number


def numerical_diff(f: Callable, x: float, h: float = 1e-4) -> float:
    """Central difference (f(x+h) - f(x-h)) / 2h of a scalar function."""
    return (f(x + h) - f(x - h)) / (2 * h)


def check_differentiable_point(x, h) -> None:
    """Raise ValueError unless x is a writable NumPy array of float32 or float64, which can hold x + h in
    place, and h a finite step above 0."""
    dtype = getattr(x, "dtype", None)
    if not isinstance(x, np.ndarray) or not np.issubdtype(dtype, np.floating) or dtype.itemsize < 4:
        found = f"an array of {dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        raise ValueError(f"numerical_gradient: x must be a float32 or float64 NumPy array, which it nudges by h in "
                         f"place; got {found} (for the book's example write np.array([3.0, 4.0]), not [3, 4])")
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x is read-only, and it is nudged by h in place; pass a writable "
                         "copy (x.copy())")
    if not is_number(h) or not 0 < h < np.inf:
        raise ValueError(f"numerical_gradient: h must be a finite number above 0; got {h!r}")


def numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of scalar f with respect to array x, any ndim.

    Like the book, each element of x is nudged in place and restored, so f may
    ignore its argument and read x through a closure (as the networks do with
    their `params`). So x must hold floats of at least single precision: an integer array would
    truncate the nudges (x + 1e-4 stored as x) and a float16 one round them away; either raises
    ValueError rather than return a wrong gradient. Write np.array([3.0, 4.0]), not [3, 4].
    Rounding limits it even so, as it does the book's: an element too large for its dtype to hold x + h
    gets a gradient of 0 (float64 near 1e13, where the book's descent with lr 10 stops; float32 near 1e4),
    and where f is large against the change h makes in it, the difference keeps few digits.
    """
    check_differentiable_point(x, h)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index", "zerosize_ok"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        original = x[idx]
        try:
            x[idx] = original + h
            f_plus = loss_value(f, x)
            x[idx] = original - h
            f_minus = loss_value(f, x)
        finally:  # even when f raises: x may be a network's weights, which must not stay nudged
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def loss_value(f: Callable, x: np.ndarray):
    """f(x), which must be one real number; ValueError saying what f returned otherwise (an array, say, from
    a loss that was not summed), which the gradient's elements could not hold."""
    value = f(x)
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iuf":
        got = f"an array of shape {array.shape}" if array.shape != () else repr(value)
        raise ValueError(f"numerical_gradient: f must return one number, the function's value at x; got {got}")
    return value


def numerical_gradient_2d(f: Callable, X: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The book's row-by-row numerical gradient: for a 1-D X the gradient of f at X; for a 2-D X, row i
    of the result is the gradient of f at row i (f is called with one row at a time)."""
    if X.ndim == 1:
        return numerical_gradient(f, X, h)
    return np.stack([numerical_gradient(f, row.copy(), h) for row in X]).astype(X.dtype, copy=False)


def gradient_descent(f: Callable, init_x: np.ndarray, lr: float = 0.01, step_num: int = 100,
                     return_history: bool = False):
    """Minimise f from init_x with step_num steps of x -= lr * grad.

    init_x is not modified. Returns the final x; with return_history=True also
    an array (step_num, *x.shape) of the points visited before each step.
    """
    x = np.array(init_x, dtype=np.float64)
    history = []
    for _ in range(step_num):
        history.append(x.copy())
        x -= lr * numerical_gradient(f, x)
    if return_history:
        return x, np.array(history)
    return x
