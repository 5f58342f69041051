"""functions.py and gradient.py against hand derivations."""
import numpy as np
import pytest

from numpy_impl import functions as F
from numpy_impl.gradient import gradient_descent, numerical_diff, numerical_gradient
from parity.records import assert_close


def test_activations_by_hand():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(F.step_function(x), [0, 0, 1])
    np.testing.assert_array_equal(F.relu(x), [0, 0, 3])
    np.testing.assert_array_equal(F.relu_grad(x), [0, 0, 1])  # 0 at x == 0: the book's bug fixed
    assert_close(F.sigmoid(x), 1 / (1 + np.exp([2.0, 0.0, -3.0])), "forward")
    assert_close(F.sigmoid_grad(np.array([0.0])), [0.25], "forward")
    assert_close(F.leaky_relu(x, alpha=0.1), [-0.2, 0, 3], "forward")
    assert_close(F.tanh(x), np.tanh(x), "forward")
    assert F.identity_function(x) is x


def test_softmax_is_stable_and_batched():
    x = np.array([1010.0, 1000.0, 990.0])
    y = F.softmax(x)
    assert np.isfinite(y).all()
    assert_close(y, np.exp([0.0, -10.0, -20.0]) / np.exp([0.0, -10.0, -20.0]).sum(), "forward")
    batch = np.stack([x, x - 5, np.zeros(3)])
    assert_close(F.softmax(batch), np.stack([y, y, np.full(3, 1 / 3)]), "forward")


def test_losses_by_hand():
    y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
    t = np.zeros_like(y)
    t[0, 2] = 1
    # the book's worked example: SSE 0.0975, CEE -log(0.6 + 1e-7)
    assert_close(F.mean_squared_error(y, t), 0.0975, "hand derivation")
    assert F.sum_squared_error is F.mean_squared_error
    assert_close(F.cross_entropy_error(y, t), -np.log(0.6 + 1e-7), "hand derivation")
    assert_close(F.cross_entropy_error(y, np.array([2])), -np.log(0.6 + 1e-7), "hand derivation")
    assert_close(F.cross_entropy_error(y[0], t[0]), -np.log(0.6 + 1e-7), "hand derivation")
    scores = np.log(y + 1e-300)
    assert_close(F.softmax_loss(scores, np.array([2])), -np.log(0.6 + 1e-7), "hand derivation")


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 10]), r"\[0, 10\)"),
    (np.array([-1, 3]), r"\[0, 10\)"),
    (np.array([0, 1, 2]), "shape"),
    (np.array([0.0, 1.0]), "integer dtype"),
])
def test_bad_labels_are_named(labels, message):
    with pytest.raises(ValueError, match=message):
        F.cross_entropy_error(np.full((2, 10), 0.1), labels)


def test_numerical_diff_and_gradient():
    # d/dx (0.01x^2 + 0.1x) = 0.02x + 0.1: 0.2 at x=5, 0.3 at x=10 (the book's example)
    f = lambda x: 0.01 * x ** 2 + 0.1 * x
    assert_close(numerical_diff(f, 5.0), 0.2, "central difference")
    assert_close(numerical_diff(f, 10.0), 0.3, "central difference")
    x = np.array([[3.0, 4.0], [0.0, -2.0]])
    grad = numerical_gradient(lambda v: np.sum(v ** 2), x)
    assert_close(grad, 2 * x, "central difference", "grad of sum(x^2)")
    np.testing.assert_array_equal(x, [[3.0, 4.0], [0.0, -2.0]])  # restored


def test_gradient_descent_converges_and_keeps_history():
    f = lambda x: x[0] ** 2 + x[1] ** 2
    init = np.array([-3.0, 4.0])
    x, history = gradient_descent(f, init, lr=0.1, step_num=100, return_history=True)
    # each step multiplies x by (1 - 2*lr) = 0.8 exactly (central differences are exact on quadratics)
    assert_close(x, init * 0.8 ** 100, "central difference", "final x")
    assert history.shape == (100, 2)
    np.testing.assert_array_equal(history[0], init)
    np.testing.assert_array_equal(init, [-3.0, 4.0])  # caller's array untouched
    assert np.abs(gradient_descent(f, init, lr=10.0, step_num=100)).max() > 1e10  # diverges
    assert_close(gradient_descent(f, init, lr=1e-10, step_num=100), init * (1 - 2e-10) ** 100, "central difference",
                 "barely moves")
