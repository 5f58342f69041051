"""Each optimizer's update against the formula worked by hand."""
import inspect

import numpy as np
import pytest

from dlfs_common.book_optimizers import BOOK_OPTIMIZERS
from numpy_impl.optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, make_optimizer
from parity.records import assert_close


def run(optimizer, grads_sequence, p0):
    params = {"p": np.array(p0, dtype=np.float64)}
    for g in grads_sequence:
        optimizer.update(params, {"p": np.array(g, dtype=np.float64)})
    return params["p"]


def test_sgd():
    assert_close(run(SGD(lr=0.1), [[1.0, -2.0]], [0.0, 0.0]), [-0.1, 0.2], "forward")


def test_momentum_two_steps():
    # v1 = -lr*g1; v2 = m*v1 - lr*g2; p = v1 + v2
    lr, m, g1, g2 = 0.1, 0.9, 1.0, 3.0
    v1 = -lr * g1
    v2 = m * v1 - lr * g2
    assert_close(run(Momentum(lr, m), [[g1], [g2]], [0.0])[0], v1 + v2, "hand derivation")


def test_nesterov_uses_the_previous_velocity():
    lr, m, g1, g2 = 0.1, 0.9, 1.0, 3.0
    # step 1: v_old = 0 -> p1 = -(1+m)*lr*g1; v1 = -lr*g1
    p1 = -(1 + m) * lr * g1
    v1 = -lr * g1
    # step 2: p2 = p1 + m^2*v1 - (1+m)*lr*g2
    p2 = p1 + m * m * v1 - (1 + m) * lr * g2
    assert_close(run(Nesterov(lr, m), [[g1]], [0.0])[0], p1, "hand derivation")
    assert_close(run(Nesterov(lr, m), [[g1], [g2]], [0.0])[0], p2, "hand derivation")


def test_adagrad_and_rmsprop():
    lr, g1, g2 = 0.5, 2.0, -1.0
    h1, h2 = g1 ** 2, g1 ** 2 + g2 ** 2
    expected = -lr * g1 / (np.sqrt(h1) + 1e-7) - lr * g2 / (np.sqrt(h2) + 1e-7)
    assert_close(run(AdaGrad(lr), [[g1], [g2]], [0.0])[0], expected, "hand derivation")
    d = 0.9
    h1 = (1 - d) * g1 ** 2
    h2 = d * h1 + (1 - d) * g2 ** 2
    expected = -lr * g1 / (np.sqrt(h1) + 1e-7) - lr * g2 / (np.sqrt(h2) + 1e-7)
    assert_close(run(RMSprop(lr, decay_rate=d), [[g1], [g2]], [0.0])[0], expected, "hand derivation")


def test_adam_two_steps_in_the_book_form():
    lr, b1, b2, g1, g2 = 0.01, 0.9, 0.999, 0.5, -2.0
    p = 0.0
    m = v = 0.0
    for t, g in ((1, g1), (2, g2)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + 1e-7)
    assert_close(run(Adam(lr, b1, b2), [[g1], [g2]], [0.0])[0], p, "hand derivation")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_in_place_and_keep_float32(name):
    p = np.ones(3, dtype=np.float32)
    params = {"p": p}
    optimizer = make_optimizer(name)
    for _ in range(3):
        optimizer.update(params, {"p": np.full(3, 0.5, dtype=np.float32)})
    assert params["p"] is p and p.dtype == np.float32 and (p < 1).all()


def test_make_optimizer_names():
    assert isinstance(make_optimizer("RMSprop", lr=0.1, decay_rate=0.9), RMSprop)
    assert isinstance(make_optimizer("adam", beta1=0.8), Adam)
    with pytest.raises(ValueError, match="'adamw'.*AdaGrad"):
        make_optimizer("adamw")


@pytest.mark.parametrize("name", BOOK_OPTIMIZERS)
def test_the_classes_defaults_are_the_tables(name):
    """The book's classes keep their defaults in their signatures, as in the book; make_optimizer (and the torch
    side) fill them from dlfs_common.book_optimizers: the two must agree."""
    signature = inspect.signature(OPTIMIZERS[name])
    assert {key: parameter.default for key, parameter in signature.parameters.items()} == BOOK_OPTIMIZERS[name]
