"""Every network: backprop against the numerical gradient, float32, save/load, errors."""
import numpy as np
import pytest
from helpers import golden_images, load_golden

from numpy_impl.networks import (
    DeepConvNet,
    DoubleConvNet,
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    TwoLayerNet,
)
from numpy_impl.optimizers import Adam
from parity.records import assert_all_close, assert_close

# The loss's 1e-7 inside the log is not in the backprop gradient (nor in PyTorch's): it
# shifts the numerical gradient by about 1e-7 / y_label relative, up to ~2e-6 here.
TINY_DEEP = dict(input_dim=(1, 8, 8), hidden_size=6, output_size=3,
                 **{f"conv_param_{i}": {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1}
                    for i in range(1, 7)})


def small_networks(dtype=np.float64, rng=None):
    """name -> (network, x, t): every network at a size a numerical gradient can afford."""
    rng = rng or np.random.default_rng(0)
    flat = rng.random((4, 12))
    images = rng.random((3, 1, 8, 8))
    return {
        "TwoLayerNet": (TwoLayerNet(12, 5, 3, weight_init_std=0.5, dtype=dtype, rng=rng), flat, np.array([0, 1, 2, 1])),
        "MultiLayerNet": (MultiLayerNet(12, [5, 4], 3, activation="sigmoid", weight_init_std="xavier",
                                        weight_decay_lambda=0.1, dtype=dtype, rng=rng), flat, np.eye(3)[[2, 0, 1, 1]]),
        "MultiLayerNetExtend": (MultiLayerNetExtend(12, [5, 4], 3, activation="tanh", weight_decay_lambda=0.05,
                                                    use_batchnorm=True, dtype=dtype, rng=rng), flat,
                                np.array([1, 0, 2, 2])),
        "SimpleConvNet": (SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                                        hidden_size=5, output_size=3, weight_init_std=0.3, dtype=dtype, rng=rng),
                          images, np.array([0, 2, 1])),
        "DeepConvNet": (DeepConvNet(**TINY_DEEP, dropout_ratio=0, dtype=dtype, rng=rng), images, np.array([2, 1, 0])),
        "DoubleConvNet": (DoubleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 1},
                                        {"filter_num": 3, "filter_size": 3, "pad": 1}, hidden_size=5, output_size=3,
                                        dtype=dtype, rng=rng), images, np.array([1, 1, 0])),
        "MultiLayerNet[batchnorm]": (MultiLayerNet(12, [5, 4], 3, use_batchnorm=True, dtype=dtype, rng=rng), flat,
                                     np.array([2, 2, 0, 1])),
    }


@pytest.mark.parametrize("name", list(small_networks()))
def test_backprop_matches_numerical_gradient(name):
    net, x, t = small_networks()[name]
    grads = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    assert set(grads) == set(net.params) == set(numerical)
    assert_all_close(grads, numerical, "network numerical gradient", name)


def test_dropout_network_gradient_with_fixed_masks():
    rng = np.random.default_rng(1)
    net = MultiLayerNetExtend(12, [6, 5], 3, use_dropout=True, dropout_ration=0.3, rng=rng)
    x, t = rng.random((4, 12)), np.array([0, 1, 2, 0])
    masks = {name: rng.random((4, layer_size)) > 0.3
             for name, layer_size in (("Dropout1", 6), ("Dropout2", 5))}
    for name, mask in masks.items():
        net.layers[name].draw_mask = lambda shape, mask=mask: mask
    assert_all_close(net.gradient(x, t), net.numerical_gradient(x, t), "network numerical gradient")


@pytest.mark.parametrize("name", list(small_networks()))
def test_float32_networks_train_and_stay_float32(name):
    net, x, t = small_networks(np.float32, np.random.default_rng(2))[name]
    assert all(p.dtype == np.float32 for p in net.params.values())
    optimizer = Adam(lr=0.01)
    first = float(net.loss(x, t))
    for _ in range(30):
        grads = net.gradient(x, t)
        assert all(g.dtype == np.float32 for g in grads.values()), name
        optimizer.update(net.params, grads)
    assert net.predict(x).dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert float(net.loss(x, t)) < first


def test_float32_simple_convnet_on_real_images():
    g = load_golden("simple_convnet")
    x = golden_images(g, flatten=False).astype(np.float32)[:64]
    t = g["t"][:64]
    net = SimpleConvNet(conv_param={"filter_num": 8, "filter_size": 5, "pad": 0, "stride": 1}, hidden_size=32,
                        dtype=np.float32, rng=np.random.default_rng(3))
    optimizer = Adam(lr=0.003)
    first = float(net.loss(x, t))
    for _ in range(20):
        optimizer.update(net.params, net.gradient(x, t))
    assert float(net.loss(x, t)) < 0.8 * first
    assert net.params["W1"].dtype == np.float32


@pytest.mark.parametrize("name", list(small_networks()))
def test_save_and_load_params_round_trip(name, tmp_path):
    nets = small_networks()
    net, x, t = nets[name]
    net.gradient(x, t)  # creates batch-norm running statistics where there are any
    path = tmp_path / "params.npz"
    net.save_params(path)
    fresh, _, _ = small_networks(rng=np.random.default_rng(99))[name]
    held = fresh.params["W1"]
    fresh.load_params(path)
    assert fresh.params["W1"] is held  # loaded in place: layers and optimizers keep their arrays
    for key in net.params:
        np.testing.assert_array_equal(fresh.params[key], net.params[key])
    for key, value in net.buffers().items():
        np.testing.assert_array_equal(fresh.buffers()[key], value)
    np.testing.assert_array_equal(fresh.predict(x), net.predict(x))
    assert [p.name for p in tmp_path.iterdir()] == ["params.npz"]


def test_load_params_rejects_other_shapes(tmp_path):
    TwoLayerNet(12, 5, 3).save_params(tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"W1 has shape \(12, 5\); this network expects \(12, 6\)"):
        TwoLayerNet(12, 6, 3).load_params(tmp_path / "a.npz")


def test_load_params_checks_every_key_and_shape_before_changing_anything(tmp_path):
    from numpy_impl.networks import MultiLayerNetExtend
    source = MultiLayerNetExtend(12, [5], 3, use_batchnorm=True, rng=np.random.default_rng(0))
    saved = {**source.params, "running_mean1": np.zeros(5), "running_var1": np.ones(5)}
    net = MultiLayerNetExtend(12, [5], 3, use_batchnorm=True, rng=np.random.default_rng(1))
    before = {key: value.copy() for key, value in net.params.items()}
    cases = [({**saved, "running_var1": np.ones(4)}, r"running_var1 has shape \(4,\); this network expects \(5,\)"),
             ({**saved, "running_mean7": np.zeros(5)}, r"holds \['running_mean7'\], which MultiLayerNetExtend"),
             ({key: value for key, value in saved.items() if key != "beta1"}, r"lacks parameters \['beta1'\]")]
    for index, (arrays, message) in enumerate(cases):
        path = tmp_path / f"bad{index}.npz"
        np.savez(path, **arrays)
        with pytest.raises(ValueError, match=message):
            net.load_params(path)
        for key, value in before.items():
            np.testing.assert_array_equal(net.params[key], value)
        assert net.buffers() == {}
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "bad0.npz").read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated.npz is not a parameter file written by save_params"):
        net.load_params(tmp_path / "truncated.npz")


def test_weight_init_scales():
    net = MultiLayerNet(400, [300], 10, weight_init_std="he", rng=np.random.default_rng(4))
    assert_close(net.params["W1"].std(), np.sqrt(2 / 400), "sample standard deviation")
    net = MultiLayerNet(400, [300], 10, weight_init_std="xavier", rng=np.random.default_rng(4))
    assert_close(net.params["W1"].std(), np.sqrt(1 / 400), "sample standard deviation")
    net = MultiLayerNet(400, [300], 10, weight_init_std=0.01, rng=np.random.default_rng(4))
    assert_close(net.params["W1"].std(), 0.01, "sample standard deviation")


def test_seeded_construction_is_reproducible():
    a = DeepConvNet(rng=np.random.default_rng(5))
    b = DeepConvNet(rng=np.random.default_rng(5))
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert a.params["W7"].shape == (1024, 50)


@pytest.mark.parametrize("make, message", [
    (lambda: MultiLayerNet(4, [3], 2, activation="swish"), "activation 'swish'"),
    (lambda: MultiLayerNet(4, [3], 2, weight_init_std="lecun"), "weight_init_std 'lecun'"),
    (lambda: TwoLayerNet(4, 3, 2, dtype=np.int32), "dtype"),
    (lambda: SimpleConvNet((1, 3, 4), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}), "1x2"),
    (lambda: DeepConvNet(input_dim=(1, 2, 2)), "before pooling 3 is 1x1"),
    (lambda: DeepConvNet(input_dim=(1, 8, 8), fast=1), "fast must be True or False"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_batches_are_named():
    net = TwoLayerNet(12, 5, 3)
    with pytest.raises(ValueError, match="width 12"):
        net.loss(np.zeros((2, 10)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        net.gradient(np.zeros((2, 12)), np.array([0, 3]))
    with pytest.raises(ValueError, match="2 samples but t has 3"):
        net.accuracy(np.zeros((2, 12)), np.array([0, 1, 2]))


def test_l1_weight_decay_gradient():
    rng = np.random.default_rng(8)
    net = MultiLayerNet(12, [5], 3, weight_decay_lambda=0.2, weight_decay_type="l1", rng=rng)
    for key in ("W1", "W2"):  # keep |W|'s kink at 0 out of the finite-difference step
        net.params[key][np.abs(net.params[key]) < 1e-3] = 0.01
    x, t = rng.random((4, 12)), np.array([0, 1, 2, 1])
    assert_all_close(net.gradient(x, t), net.numerical_gradient(x, t), "network numerical gradient")
    assert_close(net.weight_decay(), 0.2 * sum(np.abs(net.params[k]).sum() for k in ("W1", "W2")), "hand derivation")
    with pytest.raises(ValueError, match="weight_decay_type"):
        MultiLayerNet(4, [3], 2, weight_decay_type="l3")


def test_seeded_dropout_networks_train_reproducibly():
    x, t = np.random.default_rng(0).random((8, 12)), np.arange(8) % 3
    grads = [MultiLayerNetExtend(12, [6], 3, use_dropout=True, rng=np.random.default_rng(3)).gradient(x, t)
             for _ in range(2)]
    for key in grads[0]:
        np.testing.assert_array_equal(grads[0][key], grads[1][key])


@pytest.mark.parametrize("fast, unfolded, windows", [(True, "cols", "window_elements"), (False, "col", "arg_max")])
def test_a_training_step_keeps_no_unfolded_input_alive(fast, unfolded, windows):
    from numpy_impl.layers import Convolution, Pooling
    net = DeepConvNet(**TINY_DEEP, rng=np.random.default_rng(0), fast=fast)
    x, t = np.random.default_rng(1).random((3, 1, 8, 8)), np.array([0, 1, 2])
    net.loss(x, t)
    convolutions = [layer for layer in net.layers.values() if isinstance(layer, Convolution)]
    poolings = [layer for layer in net.layers.values() if isinstance(layer, Pooling)]
    assert all(getattr(layer, unfolded) is not None for layer in convolutions)  # forward keeps them for backward
    net.gradient(x, t)
    assert all(getattr(layer, unfolded) is None for layer in convolutions)
    if fast:  # the stacked windows, the size of the input; the reference keeps the argmax, a quarter of it
        assert all(getattr(layer, windows) is None for layer in poolings)


def test_gradients_follow_the_arrays_the_layers_hold():
    net = TwoLayerNet(6, 4, 3, rng=np.random.default_rng(0))
    x, t = np.random.default_rng(1).random((2, 6)), np.array([0, 2])
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    assert grads["W2"] is net.layers["Affine2"].dW and grads["b1"] is net.layers["Affine1"].db
    net.layers["Affine2"].b = net.params["b2"].copy()  # a layer that holds a copy would train nothing
    with pytest.raises(RuntimeError, match=r"no layer holds the params \['b2'\]"):
        net.gradient(x, t)


def test_a_relu_before_max_pooling_runs_after_it_and_the_reference_kernels_keep_the_books_order():
    net = DeepConvNet(**TINY_DEEP, rng=np.random.default_rng(0))
    names = {id(layer): name for name, layer in net.layers.items()}
    order = [names[id(layer)] for layer in net.forward_order()]
    assert order[:10] == ["Conv1", "Relu1", "Conv2", "Pool1", "Relu2", "Conv3", "Relu3", "Conv4", "Pool2", "Relu4"]
    assert sorted(order) == sorted(net.layers)
    book = DeepConvNet(**TINY_DEEP, rng=np.random.default_rng(0)).use_fast_kernels(False)
    assert book.forward_order() == list(book.layers.values())
    reference = DeepConvNet(**TINY_DEEP, fast=False)
    assert reference.forward_order() == list(reference.layers.values())


def run_in_the_books_order(net, x, t):
    """Scores and gradients with every layer run in self.layers' order, as the book's networks run them."""
    scores = x
    for layer in net.layers.values():
        scores = layer.forward(scores)
    net.last_layer.forward(scores, t)
    dout = net.last_layer.backward(1)
    for layer in reversed(net.layers.values()):
        dout = layer.backward(dout)
    return scores, net.layer_gradients()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [
    lambda dtype: SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                                hidden_size=5, output_size=3, dtype=dtype, rng=np.random.default_rng(0)),
    lambda dtype: DeepConvNet(**TINY_DEEP, dropout_ratio=0, dtype=dtype, rng=np.random.default_rng(0)),
], ids=["SimpleConvNet", "DeepConvNet"])
def test_pooling_before_relu_gives_the_books_scores_and_gradients_bit_for_bit(make, dtype):
    x = np.random.default_rng(1).random((3, 1, 8, 8)).astype(dtype)
    x[:, :, :4] = 0  # windows of equal outputs (the bias): ties, positive and not
    t = np.array([0, 2, 1])
    ours, books = make(dtype), make(dtype)
    for net in (ours, books):
        net.params["b1"][:] = np.tile(np.array([0.25, -0.25], dtype=dtype), net.params["b1"].size // 2)
    grads = ours.gradient(x, t)
    scores, book_grads = run_in_the_books_order(books, x, t)
    np.testing.assert_array_equal(ours.predict(x), scores)
    assert any(np.any(books.layers[name].mask) for name in books.layers if name.startswith("Relu"))
    for key in book_grads:
        np.testing.assert_array_equal(grads[key], book_grads[key], err_msg=key)
