"""Activation and loss functions of the book (common/functions.py).

Every function takes and returns NumPy arrays and keeps the input's dtype.
"""
import numpy as np

from dlfs_common.checks import check_labels

CROSS_ENTROPY_EPS = 1e-7  # the book adds this inside the log to avoid log(0)


def identity_function(x: np.ndarray) -> np.ndarray:
    return x


def step_function(x: np.ndarray) -> np.ndarray:
    return np.array(x > 0, dtype=int)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of sigmoid at x (not at sigmoid(x))."""
    return (1.0 - sigmoid(x)) * sigmoid(x)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(0, x)


def relu_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of relu at x: 1 where x > 0, else 0.

    Fix of the book's code: its `relu_grad` wrote `grad[x>=0] = 1` into an array
    of zeros shaped like x, which marks x == 0 as 1; the derivative used by the
    Relu layer (and by PyTorch) is 0 there.
    """
    return (x > 0).astype(np.result_type(x, np.float32))


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x > 0, x, alpha * x)


def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, for a vector or a batch (N, C)."""
    x = x - np.max(x, axis=-1, keepdims=True)
    exp_x = np.exp(x)
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) over the last axis, computed as x - max - log(sum(exp(x - max))): finite for any
    finite scores, where the log of an underflowed softmax (scores like [1000, 0, 0]) is -inf."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def mean_squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """0.5 * sum((y - t)**2): the book's seeds call this mean_squared_error."""
    return 0.5 * np.sum((y - t) ** 2)


sum_squared_error = mean_squared_error


def cross_entropy_error(y: np.ndarray, t: np.ndarray, eps: float = CROSS_ENTROPY_EPS) -> float:
    """Mean cross-entropy of probabilities y (N, C) or (C,) against labels t.

    t is one-hot (same shape as y) or integer class indices (N,) or a scalar.
    eps is added inside the log (the book's 1e-7); eps=0 gives the exact
    cross-entropy, as `F.cross_entropy` computes it.
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, y.size)
        t = t.reshape(1, t.size) if t.size == y.size else t.reshape(1)
    t = check_labels(t, *y.shape)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + eps)) / batch_size


def cross_entropy_of_scores(x: np.ndarray, t: np.ndarray) -> float:
    """The exact mean cross-entropy of scores x (N, C) against labels t (as cross_entropy_error takes them),
    through log_softmax, as `F.cross_entropy` computes it: finite for any finite scores."""
    labels = check_labels(t, *x.shape)
    return -np.sum(log_softmax(x)[np.arange(x.shape[0]), labels]) / x.shape[0]


def softmax_loss(X: np.ndarray, t: np.ndarray) -> float:
    return cross_entropy_error(softmax(X), t)
