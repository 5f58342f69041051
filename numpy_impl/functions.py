"""Activation and loss functions of the book (common/functions.py).

Every function takes and returns NumPy arrays and keeps the input's dtype.
"""
import numpy as np

CROSS_ENTROPY_EPS = 1e-7  # the book adds this inside the log to avoid log(0)


def identity_function(x):
    return x


def step_function(x):
    return np.array(x > 0, dtype=int)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    """Derivative of sigmoid at x (not at sigmoid(x))."""
    return (1.0 - sigmoid(x)) * sigmoid(x)


def relu(x):
    return np.maximum(0, x)


def relu_grad(x):
    """Derivative of relu at x: 1 where x > 0, else 0.

    Fix of the book's code: its `relu_grad` wrote `grad[x>=0] = 1` into an array
    of zeros shaped like x, which marks x == 0 as 1; the derivative used by the
    Relu layer (and by PyTorch) is 0 there.
    """
    return (x > 0).astype(np.result_type(x, np.float32))


def tanh(x):
    return np.tanh(x)


def leaky_relu(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x)


def softmax(x):
    """Numerically stable softmax over the last axis, for a vector or a batch (N, C)."""
    x = x - np.max(x, axis=-1, keepdims=True)
    exp_x = np.exp(x)
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


def mean_squared_error(y, t):
    """0.5 * sum((y - t)**2): the book's seeds call this mean_squared_error."""
    return 0.5 * np.sum((y - t) ** 2)


sum_squared_error = mean_squared_error


def check_one_hot(t):
    """Raise ValueError unless every row of `t` holds one 1 and zeros elsewhere."""
    valid = ((t == 0) | (t == 1)).all(axis=1) & (t.sum(axis=1) == 1)
    if not valid.all():
        row = int(np.argmin(valid))
        raise ValueError(f"one-hot labels t must hold one 1 per row and 0 elsewhere; row {row} is {t[row].tolist()}")


def check_labels(y, t):
    """Validate labels `t` for scores or probabilities `y` of shape (N, C).

    Accepts one-hot labels shaped like `y` or integer labels of shape (N,) in
    [0, C). Returns integer labels of shape (N,).
    """
    t = np.asarray(t)
    batch_size, num_classes = y.shape
    if t.shape == y.shape:
        check_one_hot(t)
        return t.argmax(axis=1)
    if t.shape != (batch_size,):
        raise ValueError(
            f"labels t have shape {t.shape}; expected one-hot labels of shape "
            f"{y.shape} or integer labels of shape ({batch_size},)"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"integer labels t must have an integer dtype, got {t.dtype}")
    if batch_size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(
            f"labels t must lie in [0, {num_classes}) for {num_classes} classes; "
            f"got values from {t.min()} to {t.max()}"
        )
    return t


def cross_entropy_error(y, t, eps=CROSS_ENTROPY_EPS):
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
    t = check_labels(y, t)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + eps)) / batch_size


def softmax_loss(X, t):
    return cross_entropy_error(softmax(X), t)
