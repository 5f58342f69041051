"""numpy_impl reproduces the outputs of the book's own published code (../shared/golden)."""
import hashlib

import numpy as np
import pytest
from helpers import GOLDEN_DIR, SHARED_GOLDEN_DIR, golden_images, load_golden

from numpy_impl.fast_layers import FastConvolution, FastPooling
from numpy_impl.layers import Convolution, Pooling
from numpy_impl.networks import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet
from numpy_impl.optimizers import SGD, Adam, make_optimizer
from numpy_impl.util import col2im, col2im_by_fold, im2col, im2col_by_unfold
from parity.records import assert_all_close, assert_close

OPTIMIZER_NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
CONV = load_golden("conv_pool")


def copy_in(net, fixture, prefix):
    for key in net.params:
        net.params[key][...] = fixture[prefix + key]


@pytest.mark.skipif(not SHARED_GOLDEN_DIR.is_dir(), reason="no ../shared/golden beside this checkout")
@pytest.mark.parametrize("path", sorted(GOLDEN_DIR.glob("*.npz")), ids=lambda p: p.name)
def test_vendored_fixture_is_the_shared_one(path):
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, SHARED_GOLDEN_DIR / path.name)]
    assert digest[0] == digest[1]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_optimizer_trajectory_on_mlp(name):
    g = load_golden("optimizers_mlp")
    x, t = golden_images(g, flatten=True), g["t"]
    net = MultiLayerNet(784, list(g["hidden"]), 10, activation="relu", weight_init_std="he",
                        weight_decay_lambda=float(g["weight_decay"]))
    copy_in(net, g, "init/")
    hyperparams = {key.rsplit("/", 1)[1]: g[key].item() for key in g
                   if key.startswith(f"{name}/hp/") and not key.endswith("/iter")}
    optimizer = make_optimizer(name, **hyperparams)
    losses = []
    for batch in g["batches"]:
        grads = net.gradient(x[batch], t[batch])
        losses.append(net.loss(x[batch], t[batch]))
        optimizer.update(net.params, grads)
    assert_close(losses, g[f"{name}/loss"], "golden trajectory", f"{name} losses")
    for key in net.params:
        assert_close(net.params[key], g[f"{name}/final/{key}"], "golden trajectory", f"{name} final {key}")
    if name == "Adam":
        assert optimizer.iter == g["Adam/hp/iter"]


def test_batchnorm_mlp_training_running_stats_and_eval():
    g = load_golden("batchnorm_mlp")
    x, t = golden_images(g, flatten=True), g["t"]
    net = MultiLayerNetExtend(784, list(g["hidden"]), 10, use_batchnorm=True)
    copy_in(net, g, "init/")
    optimizer = SGD(lr=float(g["lr"]))
    losses = []
    for batch in g["batches"]:
        grads = net.gradient(x[batch], t[batch])
        losses.append(net.last_layer.loss)
        optimizer.update(net.params, grads)
    assert_close(losses, g["loss"], "golden trajectory", "losses")
    # b1, b2 feed a batch norm, which cancels them: they are rounding noise (~1e-18), measured
    # against the network's largest parameter
    assert_all_close(net.params, {key: g[f"final/{key}"] for key in net.params}, "golden trajectory", "final")
    buffers = net.buffers()
    assert sorted(buffers) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    for key, value in buffers.items():
        assert_close(value, g[key], "golden trajectory", key)
    assert_close(net.predict(x[:64], train_flg=False), g["eval_scores"], "golden trajectory", "eval scores")


def simple_convnet_from(g):
    conv_param = {"filter_num": int(g["filter_num"]), "filter_size": int(g["filter_size"]),
                  "pad": int(g["pad"]), "stride": 1}
    net = SimpleConvNet(conv_param=conv_param, hidden_size=int(g["hidden_size"]), weight_init_std=0.05)
    copy_in(net, g, "init/")
    return net


def test_simple_convnet_loss_and_gradient():
    g = load_golden("simple_convnet")
    x, t = golden_images(g, flatten=False), g["t"]
    net = simple_convnet_from(g)
    batch = g["batches"][0]
    grads = net.gradient(x[batch], t[batch])
    assert_close(net.loss(x[batch], t[batch]), g["loss0"], "golden", "loss0")
    for key in net.params:
        assert_close(grads[key], g[f"grad0/{key}"], "golden", f"grad {key}")


def test_simple_convnet_adam_trajectory():
    g = load_golden("simple_convnet")
    x, t = golden_images(g, flatten=False), g["t"]
    net = simple_convnet_from(g)
    optimizer = Adam(lr=0.001)
    losses = []
    for batch in g["batches"]:
        grads = net.gradient(x[batch], t[batch])
        losses.append(net.loss(x[batch], t[batch]))
        optimizer.update(net.params, grads)
    assert_close(losses, g["adam_loss"], "golden trajectory", "adam losses")
    for key in net.params:
        assert_close(net.params[key], g[f"final/{key}"], "golden trajectory", f"final {key}")


def test_deep_convnet_pretrained_eval_scores():
    g = load_golden("deep_convnet_pretrained")
    net = DeepConvNet()
    copy_in(net, g, "params/")
    assert_close(net.predict(golden_images(g, flatten=False), train_flg=False), g["eval_scores"], "golden", "scores")
    assert net.accuracy(golden_images(g, flatten=False), np.argmax(g["eval_scores"], axis=1)) == 1.0


def test_deep_convnet_pretrained_gradient():
    g = load_golden("deep_convnet_pretrained")
    net = DeepConvNet(dropout_ratio=0)
    copy_in(net, g, "params/")
    grads = net.gradient(golden_images(g, flatten=False)[:8], g["grad_t"])
    for key in net.params:
        assert_close(grads[key], g[f"grad/{key}"], "golden", f"grad {key}")


@pytest.mark.parametrize("case", range(len(CONV["cases"])))
def test_im2col_col2im_and_convolution(case):
    N, C, H, W, fh, fw, stride, pad = (int(v) for v in CONV["cases"][case])
    g = {key.split("/", 1)[1]: value for key, value in CONV.items() if key.startswith(f"{case}/")}
    for unfold, fold in ((im2col_by_unfold, col2im_by_fold), (im2col, col2im)):
        assert_close(unfold(g["x"], fh, fw, stride, pad), g["col"], "golden", unfold.__name__)
        assert_close(fold(g["dcol"], (N, C, H, W), fh, fw, stride, pad), g["col2im"], "golden", fold.__name__)
    for layer_class in (Convolution, FastConvolution):
        conv = layer_class(g["W"], g["b"], stride, pad)
        assert_close(conv.forward(g["x"]), g["conv_y"], "golden", "conv forward")
        assert_close(conv.backward(g["conv_dy"]), g["conv_dx"], "golden", "conv dx")
        assert_close(conv.dW, g["conv_dW"], "golden", "conv dW")
        assert_close(conv.db, g["conv_db"], "golden", "conv db")


@pytest.mark.parametrize("case", range(len(CONV["pool_cases"])))
def test_max_pooling(case):
    N, C, H, W, pool_h, pool_w, stride = (int(v) for v in CONV["pool_cases"][case])
    x = CONV[f"p{case}/x"]
    assert x.shape == (N, C, H, W)
    for layer_class in (Pooling, FastPooling):
        pool = layer_class(pool_h, pool_w, stride)
        assert_close(pool.forward(x), CONV[f"p{case}/y"], "golden", "pool forward")
        assert_close(pool.backward(CONV[f"p{case}/dy"]), CONV[f"p{case}/dx"], "golden", "pool backward")
