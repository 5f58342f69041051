"""Every layer's backward against the numerical gradient of its forward."""
import numpy as np
import pytest
from helpers import numerical_grad_check

from numpy_impl.fast_layers import FastConvolution, FastPooling
from numpy_impl.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    LeakyRelu,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    activation_layer,
)
from parity.records import assert_close


def check_layer(layer, x, params=(), rng=None, train_flg=None):
    """Backprop through `layer` against central differences of sum(forward(x) * dout)."""
    rng = rng or np.random.default_rng(0)
    forward = (lambda: layer.forward(x)) if train_flg is None else (lambda: layer.forward(x, train_flg))
    dout = rng.standard_normal(forward().shape)

    def f():
        return np.sum(forward() * dout)

    forward()
    dx = layer.backward(dout.copy())
    grads = {"x": (x, dx)}
    for name, grad_name in params:
        grads[name] = (getattr(layer, name), getattr(layer, grad_name))
    numerical_grad_check(f, grads, "numerical gradient", type(layer).__name__)


@pytest.mark.parametrize("layer_class", [Relu, Sigmoid, Tanh, LeakyRelu])
def test_activation_backward(layer_class):
    x = np.random.default_rng(1).standard_normal((4, 5))
    x[np.abs(x) < 1e-2] = 0.5  # keep kinks away from the finite-difference step
    check_layer(layer_class(), x)


def test_relu_backward_does_not_touch_dout():
    relu = Relu()
    relu.forward(np.array([-1.0, 2.0]))
    dout = np.array([5.0, 5.0])
    np.testing.assert_array_equal(relu.backward(dout), [0.0, 5.0])
    np.testing.assert_array_equal(dout, [5.0, 5.0])


@pytest.mark.parametrize("shape", [(3, 6), (3, 2, 3), (2, 1, 2, 3)])
def test_affine_backward_any_ndim(shape):
    rng = np.random.default_rng(2)
    layer = Affine(rng.standard_normal((6, 4)), rng.standard_normal(4))
    x = rng.standard_normal(shape)
    assert layer.forward(x).shape == (shape[0], 4)
    check_layer(layer, x, [("W", "dW"), ("b", "db")])


def test_affine_bad_width_names_the_shapes():
    layer = Affine(np.zeros((6, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"width 6.*\(3, 5\)"):
        layer.forward(np.zeros((3, 5)))


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_backward(one_hot):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    t = rng.integers(0, 4, 5)
    if one_hot:
        t = np.eye(4)[t]
    labels = t.argmax(axis=1) if one_hot else t
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward()

    y_t = np.exp(-exact_loss_per_row(x, labels))
    assert_close(loss, -np.mean(np.log(y_t + 1e-7)), "hand derivation")
    # the gradient is that of the loss without the book's 1e-7 inside the log
    numerical_grad_check(lambda: np.mean(exact_loss_per_row(x, labels)), {"x": (x, dx)},
                         "numerical gradient of a smooth function", "SoftmaxWithLoss")


def exact_loss_per_row(x, labels):
    """-log softmax(x)[label] per row, computed stably."""
    shifted = x - x.max(axis=1, keepdims=True)
    return np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(x)), labels]


def test_softmax_with_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_semantics_with_injected_mask(inverted):
    x = np.arange(1.0, 7.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, True, True]])
    layer = Dropout(0.25, inverted=inverted)
    scale = 1 / 0.75 if inverted else 1.0
    assert_close(layer.forward(x, True, mask=mask), x * mask * scale, "forward")
    assert_close(layer.backward(np.ones_like(x)), mask * scale, "forward")
    assert_close(layer.forward(x, False), x if inverted else x * 0.75, "forward")


def test_dropout_rng_is_deterministic_and_keeps_the_right_share():
    x = np.ones((200, 100))
    a = Dropout(0.3, rng=np.random.default_rng(5)).forward(x)
    b = Dropout(0.3, rng=np.random.default_rng(5)).forward(x)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.7) < 0.01


def test_dropout_rejects_bad_ratio_and_mask():
    with pytest.raises(ValueError, match="dropout_ratio"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="mask"):
        Dropout(0.5).forward(np.ones((2, 3)), mask=np.ones((3, 2), dtype=bool))


@pytest.mark.parametrize("shape, per_channel", [((6, 4), False), ((4, 2, 3, 3), False), ((4, 2, 3, 3), True)])
@pytest.mark.parametrize("running_stats", ["book", "torch"])
def test_batchnorm_backward(shape, per_channel, running_stats):
    rng = np.random.default_rng(4)
    features = shape[1] if per_channel else int(np.prod(shape[1:]))
    layer = BatchNormalization(rng.standard_normal(features), rng.standard_normal(features),
                               per_channel=per_channel, running_stats=running_stats)
    x = rng.standard_normal(shape) * 3 + 1
    check_layer(layer, x, [("gamma", "dgamma"), ("beta", "dbeta")], train_flg=True)


def test_batchnorm_training_output_is_normalised_per_channel():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 3, 4, 5)) * 4 + 2
    layer = BatchNormalization(np.ones(3), np.zeros(3), per_channel=True)
    y = layer.forward(x, True)
    assert_close(y.mean(axis=(0, 2, 3)), np.zeros(3), "forward", "channel means", scale=1.0)  # unit variance
    assert_close(y.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-6), "forward")


def test_batchnorm_running_statistics_book_and_torch():
    rng = np.random.default_rng(7)
    x1, x2 = rng.standard_normal((2, 5, 3))
    book = BatchNormalization(np.ones(3), np.zeros(3))
    torch_like = BatchNormalization(np.ones(3), np.zeros(3), running_stats="torch")
    for layer in (book, torch_like):
        layer.forward(x1, True)
        layer.forward(x2, True)
    mean = 0.9 * 0.1 * x1.mean(0) + 0.1 * x2.mean(0)
    assert_close(book.running_mean, mean, "forward")
    assert_close(torch_like.running_mean, mean, "forward")
    assert_close(book.running_var, 0.9 * 0.1 * x1.var(0) + 0.1 * x2.var(0), "forward")
    assert_close(torch_like.running_var, 0.81 + 0.9 * 0.1 * x1.var(0, ddof=1) + 0.1 * x2.var(0, ddof=1), "state")
    y = book.forward(x1, False)
    assert_close(y, (x1 - book.running_mean) / np.sqrt(book.running_var + 1e-6), "forward")


def test_batchnorm_bad_width_and_option():
    with pytest.raises(ValueError, match="3 features per sample"):
        BatchNormalization(np.ones(3), np.zeros(3)).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="running_stats"):
        BatchNormalization(np.ones(3), np.zeros(3), running_stats="keras")


@pytest.mark.parametrize("convolution", [Convolution, FastConvolution])
@pytest.mark.parametrize("stride, pad, size", [(1, 0, (5, 5)), (2, 1, (7, 6)), (3, 2, (6, 8)), (1, 1, (4, 3))])
def test_convolution_backward(stride, pad, size, convolution):
    rng = np.random.default_rng(8)
    layer = convolution(rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3), stride, pad)
    check_layer(layer, rng.standard_normal((2, 2) + size), [("W", "dW"), ("b", "db")])


@pytest.mark.parametrize("convolution", [Convolution, FastConvolution])
def test_convolution_errors_name_the_problem(convolution):
    layer = convolution(np.zeros((2, 3, 5, 5)), np.zeros(2), pad=1)
    with pytest.raises(ValueError, match=r"filter 5x5 is larger than the padded input 4x4"):
        layer.forward(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"expects input \(N, 3, H, W\)"):
        layer.forward(np.zeros((1, 2, 8, 8)))


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool, stride, pad, size", [(2, 2, 0, (6, 4)), (3, 2, 0, (7, 5)), (3, 1, 1, (4, 5)),
                                                     (2, 2, 0, (7, 5)), (3, 3, 1, (6, 9)), (2, 3, 0, (8, 7))])
def test_pooling_backward(mode, pool, stride, pad, size, pooling):
    x = np.random.default_rng(9).permutation(2 * 3 * size[0] * size[1]).reshape((2, 3) + size) * 0.1 - 10
    check_layer(pooling(pool, pool, stride, pad, mode=mode), x)


def channels_outer(x):
    """x's values in (C, N, H, W) memory order, as a view (N, C, H, W): a one-channel convolution's output."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool, stride, pad, size", [(2, 2, 0, (6, 4)), (3, 2, 0, (7, 5)), (3, 1, 1, (4, 5)),
                                                     (2, 2, 1, (4, 6))])
def test_pooling_gives_the_same_arrays_in_its_inputs_memory_order(mode, pool, stride, pad, size):
    rng = np.random.default_rng(10)
    x = rng.integers(-3, 3, (2, 3) + size) * 1.0  # ties, which go to the first maximum in both orders
    in_order, swapped = FastPooling(pool, pool, stride, pad, mode), FastPooling(pool, pool, stride, pad, mode)
    out = swapped.forward(channels_outer(x))
    np.testing.assert_array_equal(out, in_order.forward(x))
    assert out.flags.c_contiguous  # in image order, which Affine reshapes without a copy
    dout = rng.standard_normal(out.shape)
    expected = in_order.backward(dout)
    for given in (dout, channels_outer(dout)):
        swapped.forward(channels_outer(x))
        dx = swapped.backward(given)
        np.testing.assert_array_equal(dx, expected)
        assert dx.strides[1] > dx.strides[0]  # a slice of the padded maps where pad > 0


def test_a_one_channel_convolutions_output_and_the_gradients_it_gets_back_keep_its_products_layout():
    rng = np.random.default_rng(11)
    conv = FastConvolution(rng.standard_normal((4, 1, 3, 3)), rng.standard_normal(4), backprop_to_input=False)
    relu, pool = Relu(), FastPooling(2, 2, 2)
    out = conv.forward(rng.standard_normal((3, 1, 6, 6)))
    assert not out.flags.c_contiguous and out.transpose(1, 0, 2, 3).flags.c_contiguous  # (FN, N, ...) in memory
    dout = relu.backward(pool.backward(np.ones(pool.forward(relu.forward(out)).shape)))
    assert dout.transpose(1, 0, 2, 3).flags.c_contiguous  # what backward multiplies as it is, with no copy
    assert conv.backward(dout) is None and conv.dW.shape == conv.W.shape


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
def test_max_pooling_pads_with_minus_infinity_and_avg_with_zero(pooling):
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(pooling(2, 2, 2, 1, mode="max").forward(x), -np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(pooling(2, 2, 2, 1, mode="avg").forward(x), -0.25 * np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
def test_max_pooling_ties_go_to_the_first_maximum(pooling):
    pool = pooling(2, 2, 2)
    pool.forward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1)))[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_windows_that_do_not_tile_drop_the_last_rows_and_columns_as_the_book_does(pooling, mode):
    x = np.arange(35.0).reshape(1, 1, 7, 5)  # x[i, j] = 5i + j
    pool = pooling(2, 2, 2, mode=mode)
    out = pool.forward(x)
    # hand derivation: window (a, b) holds 5(2a) + 2b, +1, +5, +6; its maximum is the last, its mean 3 above the first
    first = 10 * np.arange(3)[:, None] + 2 * np.arange(2)[None, :]
    np.testing.assert_array_equal(out[0, 0], first + (6 if mode == "max" else 3))
    dx = pool.backward(np.ones_like(out))
    assert dx.shape == x.shape
    assert not dx[0, 0, 6].any() and not dx[0, 0, :, 4].any()  # the dropped row and column get no gradient
    assert dx.sum() == out.size


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
def test_pooling_errors_name_the_problem(pooling):
    with pytest.raises(ValueError, match="larger than the padded input"):
        pooling(3, 3, 1).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="mode"):
        pooling(2, 2, mode="median")


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="'swish'.*relu"):
        activation_layer("swish")


def test_layers_keep_float32():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    W = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    layers = [Convolution(W, np.zeros(3, np.float32), 1, 1), Relu(), Pooling(2, 2, 2),
              BatchNormalization(np.ones(27, np.float32), np.zeros(27, np.float32)), Dropout(0.5),
              Affine(rng.standard_normal((27, 4)).astype(np.float32), np.zeros(4, np.float32))]
    out = x
    for layer in layers:
        out = layer.forward(out)
        assert out.dtype == np.float32, type(layer).__name__
    dout = np.ones_like(out)
    for layer in reversed(layers):
        dout = layer.backward(dout)
        assert dout.dtype == np.float32, type(layer).__name__


@pytest.mark.parametrize("per_channel", [False, True])
def test_batchnorm_backward_in_evaluation_mode(per_channel):
    rng = np.random.default_rng(11)
    features = 3 if per_channel else 12
    layer = BatchNormalization(rng.standard_normal(features), rng.standard_normal(features),
                               running_mean=rng.standard_normal(features), running_var=rng.random(features) + 0.5,
                               per_channel=per_channel)
    check_layer(layer, rng.standard_normal((4, 3, 2, 2)), [("gamma", "dgamma"), ("beta", "dbeta")], train_flg=False)


@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_backward_in_evaluation_mode(inverted):
    check_layer(Dropout(0.4, inverted=inverted), np.random.default_rng(12).standard_normal((3, 4)), train_flg=False)


def test_softmax_with_loss_log_eps_switch():
    x, t = np.array([[0.0, 50.0]]), np.array([0])  # y_label ~ 2e-22: the book's eps dominates
    assert_close(SoftmaxWithLoss().forward(x, t), -np.log(1e-7), "hand derivation")
    assert_close(SoftmaxWithLoss(log_eps=0.0).forward(x, t), 50.0, "hand derivation")


def test_first_layers_can_skip_the_input_gradient():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 6, 6))
    layers = [(Convolution(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), 1, 1), x),
              (Affine(rng.standard_normal((108, 5)), rng.standard_normal(5)), x)]
    for layer, inputs in layers:
        dout = rng.standard_normal(layer.forward(inputs).shape)
        assert layer.backward(dout) is not None
        dW = layer.dW.copy()
        layer.backprop_to_input = False
        layer.forward(inputs)
        assert layer.backward(dout) is None
        np.testing.assert_array_equal(layer.dW, dW)
