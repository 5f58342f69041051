"""torch_impl networks against the golden fixtures and their NumPy twins."""
import numpy as np
import pytest
import torch
from helpers import golden_images, load_golden
from torch_helpers import CUDA_SKIP, DEVICES, set_seed, to_numpy, twin

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from parity.convert import book_arrays, book_gradients, numpy_to_torch, torch_to_numpy
from parity.records import assert_all_close, assert_close
from parity.relations import book_loss, torch_running_var
from torch_impl.layers import BookDropout
from torch_impl.optimizers import make_optimizer


def golden_net(numpy_class, fixture, prefix, *args, **kwargs):
    net = numpy_class(*args, **kwargs)
    for key in net.params:
        net.params[key][...] = fixture[prefix + key]
    return net


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_mlp_optimizer_trajectories_match_the_book(name, device):
    g = load_golden("optimizers_mlp")
    args = (784, list(g["hidden"]), 10)
    kwargs = {"weight_decay_lambda": float(g["weight_decay"])}
    net = twin(golden_net(numpy_nets.MultiLayerNet, g, "init/", *args, **kwargs), torch_nets.MultiLayerNet,
               *args, device=device, **kwargs)
    x = torch.tensor(golden_images(g, flatten=True), device=device)
    t = torch.tensor(g["t"], device=device)
    hyperparams = {key.rsplit("/", 1)[1]: g[key].item() for key in g
                   if key.startswith(f"{name}/hp/") and not key.endswith("/iter")}
    optimizer = make_optimizer(name, net, **hyperparams)
    losses = []
    for batch in g["batches"]:
        optimizer.zero_grad()
        loss = net.loss(x[batch], t[batch])
        loss.backward()
        losses.append(book_loss(loss, net(x[batch]), t[batch]).item())
        optimizer.step()
    assert_close(losses, g[f"{name}/loss"], "golden trajectory", f"{name} losses")
    final = torch_to_numpy(net, numpy_nets.MultiLayerNet(*args, **kwargs))
    for key in final.params:
        assert_close(final.params[key], g[f"{name}/final/{key}"], "golden trajectory", f"{name} final {key}")


@pytest.mark.parametrize("device", DEVICES)
def test_batchnorm_mlp_matches_the_book_and_the_running_var_relation(device):
    g = load_golden("batchnorm_mlp")
    args = (784, list(g["hidden"]), 10)
    net = twin(golden_net(numpy_nets.MultiLayerNetExtend, g, "init/", *args, use_batchnorm=True),
               torch_nets.MultiLayerNetExtend, *args, use_batchnorm=True, device=device)
    x = torch.tensor(golden_images(g, flatten=True), device=device)
    t = torch.tensor(g["t"], device=device)
    optimizer = make_optimizer("SGD", net, lr=float(g["lr"]))
    net.train()
    losses = []
    for batch in g["batches"]:
        optimizer.zero_grad()
        scores = net(x[batch])
        loss = torch.nn.functional.cross_entropy(scores, t[batch])
        loss.backward()
        losses.append(book_loss(loss, scores.detach(), t[batch]).item())
        optimizer.step()
    assert_close(losses, g["loss"], "golden trajectory", "losses")
    final = torch_to_numpy(net, numpy_nets.MultiLayerNetExtend(*args, use_batchnorm=True))
    # b1, b2 feed a batch norm, which cancels them: they are rounding noise (~1e-18), measured
    # against the network's largest parameter
    assert_all_close(final.params, {key: g[f"final/{key}"] for key in final.params}, "golden trajectory", "final")
    steps, batch_size = g["batches"].shape
    for index in (1, 2):
        assert_close(final.buffers()[f"running_mean{index}"], g[f"running_mean{index}"], "golden trajectory", "mean")
        predicted = torch_running_var(g[f"running_var{index}"], batch_size, steps)
        assert_close(final.buffers()[f"running_var{index}"], predicted, "golden trajectory", "var relation")
    # with the book's running statistics copied in, evaluation gives the book's scores
    book_stats = golden_net(numpy_nets.MultiLayerNetExtend, g, "final/", *args, use_batchnorm=True)
    for index in (1, 2):
        for stat in ("running_mean", "running_var"):
            book_stats.set_buffer(f"{stat}{index}", g[f"{stat}{index}"])
    numpy_to_torch(book_stats, net)
    net.eval()
    assert_close(to_numpy(net(x[:64])), g["eval_scores"], "golden trajectory", "eval scores")


@pytest.mark.parametrize("device", DEVICES)
def test_simple_convnet_gradient_and_adam_trajectory(device):
    g = load_golden("simple_convnet")
    kwargs = {"conv_param": {"filter_num": int(g["filter_num"]), "filter_size": int(g["filter_size"]),
                             "pad": int(g["pad"]), "stride": 1}, "hidden_size": int(g["hidden_size"])}
    net = twin(golden_net(numpy_nets.SimpleConvNet, g, "init/", **kwargs), torch_nets.SimpleConvNet,
               device=device, **kwargs)
    x = torch.tensor(golden_images(g, flatten=False), device=device)
    t = torch.tensor(g["t"], device=device)
    optimizer = make_optimizer("Adam", net, lr=0.001)
    losses = []
    for step, batch in enumerate(g["batches"]):
        optimizer.zero_grad()
        loss = net.loss(x[batch], t[batch])
        loss.backward()
        losses.append(book_loss(loss, net(x[batch]), t[batch]).item())
        if step == 0:
            assert_close(losses[0], g["loss0"], "golden", "loss0")
            for key, grad in book_gradients(net).items():
                assert_close(grad, g[f"grad0/{key}"], "golden", f"grad {key}")
        optimizer.step()
    assert_close(losses, g["adam_loss"], "golden trajectory", "adam losses")
    final = torch_to_numpy(net, numpy_nets.SimpleConvNet(**kwargs))
    for key in final.params:
        assert_close(final.params[key], g[f"final/{key}"], "golden trajectory", f"final {key}")


@pytest.mark.parametrize("device", DEVICES)
def test_deep_convnet_pretrained_scores_and_gradient(device):
    g = load_golden("deep_convnet_pretrained")
    net = twin(golden_net(numpy_nets.DeepConvNet, g, "params/"), torch_nets.DeepConvNet, device=device)
    x = torch.tensor(golden_images(g, flatten=False), device=device)
    net.eval()
    assert_close(to_numpy(net(x)), g["eval_scores"], "golden", "eval scores")
    no_dropout = twin(golden_net(numpy_nets.DeepConvNet, g, "params/"), torch_nets.DeepConvNet,
                      dropout_ratio=0, device=device)
    no_dropout.train()
    no_dropout.loss(x[:8], torch.tensor(g["grad_t"], device=device)).backward()
    for key, grad in book_gradients(no_dropout).items():
        assert_close(grad, g[f"grad/{key}"], "golden", f"grad {key}")


def small_torch_networks():
    return {
        "TwoLayerNet": lambda: torch_nets.TwoLayerNet(784, 50, 10, weight_init_std=0.05),
        "MultiLayerNet": lambda: torch_nets.MultiLayerNet(784, [50, 50], 10, weight_decay_lambda=0.01),
        "MultiLayerNetExtend": lambda: torch_nets.MultiLayerNetExtend(
            784, [50, 50], 10, use_batchnorm=True, use_dropout=True, dropout_ration=0.2),
        "SimpleConvNet": lambda: torch_nets.SimpleConvNet(
            conv_param={"filter_num": 8, "filter_size": 5, "pad": 0, "stride": 1}, hidden_size=32,
            weight_init_std=0.05),
        "DeepConvNet": lambda: torch_nets.DeepConvNet(dropout_ratio=0.1),
        "DoubleConvNet": lambda: torch_nets.DoubleConvNet(hidden_size=32),
    }


@pytest.mark.parametrize("name", list(small_torch_networks()))
def test_each_network_trains_in_float32_on_real_images(name):
    set_seed(0)
    net = small_torch_networks()[name]()
    assert next(net.parameters()).dtype == torch.float32
    g = load_golden("simple_convnet")
    x = torch.tensor(golden_images(g, flatten=False)[:64], dtype=torch.float32)
    t = torch.tensor(g["t"][:64])
    optimizer = make_optimizer("Adam", net, lr=0.003)
    net.eval()
    first = net.loss(x, t).item()
    net.train()
    for _ in range(25):
        optimizer.zero_grad()
        net.loss(x, t).backward()
        optimizer.step()
    net.eval()
    assert net.loss(x, t).item() < 0.8 * first


@pytest.mark.parametrize("name", list(small_torch_networks()))
def test_state_dict_round_trip(name, tmp_path):
    set_seed(1)
    net = small_torch_networks()[name]()
    net.train()
    net(torch.rand(4, 1, 28, 28))  # moves batch-norm running statistics
    torch.save(net.state_dict(), tmp_path / "model.pt")
    set_seed(2)
    fresh = small_torch_networks()[name]()
    fresh.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    for (key, a), b in zip(net.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), key
    net.eval(), fresh.eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(net(x), fresh(x))


@pytest.mark.parametrize("name", ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"])
def test_convert_round_trip_is_exact(name):
    rng = np.random.default_rng(3)
    numpy_net = {
        "TwoLayerNet": lambda: numpy_nets.TwoLayerNet(784, 20, 10, rng=rng),
        "MultiLayerNetExtend": lambda: numpy_nets.MultiLayerNetExtend(784, [20, 10], 10, use_batchnorm=True, rng=rng),
        "SimpleConvNet": lambda: numpy_nets.SimpleConvNet(hidden_size=20, rng=rng),
        "DeepConvNet": lambda: numpy_nets.DeepConvNet(rng=rng),
    }[name]()
    torch_class = getattr(torch_nets, name)
    args = {"TwoLayerNet": (784, 20, 10), "MultiLayerNetExtend": (784, [20, 10], 10)}.get(name, ())
    kwargs = {"MultiLayerNetExtend": {"use_batchnorm": True}, "SimpleConvNet": {"hidden_size": 20}}.get(name, {})
    numpy_net.predict(rng.random((5, 784)).reshape(5, 1, 28, 28), train_flg=True)  # creates running stats
    torch_net = twin(numpy_net, torch_class, *args, **kwargs)
    back = torch_to_numpy(torch_net, type(numpy_net)(*args, **kwargs))
    for key in numpy_net.params:
        np.testing.assert_array_equal(back.params[key], numpy_net.params[key])
    for key, value in numpy_net.buffers().items():
        np.testing.assert_array_equal(back.buffers()[key], value)
    arrays = book_arrays(torch_net)
    assert set(arrays) == set(numpy_net.params) | set(numpy_net.buffers())
    for key, value in {**numpy_net.params, **numpy_net.buffers()}.items():
        np.testing.assert_array_equal(arrays[key], value)
    again = numpy_to_torch(back, torch_class(*args, dtype=torch.float64, **kwargs))
    for (key, a), b in zip(torch_net.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), key


def test_convert_rejects_different_architectures():
    with pytest.raises(ValueError, match=r"only in torch \['W3', 'b3'\]"):
        numpy_to_torch(numpy_nets.TwoLayerNet(784, 20, 10), torch_nets.MultiLayerNet(784, [20, 20], 10))
    with pytest.raises(ValueError, match="W1: NumPy shape"):
        numpy_to_torch(numpy_nets.TwoLayerNet(784, 20, 10), torch_nets.TwoLayerNet(784, 21, 10))
    numpy_net = numpy_nets.TwoLayerNet(784, 20, 10)
    before = {key: value.copy() for key, value in numpy_net.params.items()}
    with pytest.raises(ValueError, match=r"W2: torch \S+ gives shape \(20, 11\); NumPy expects \(20, 10\)"):  # W1 fits
        torch_to_numpy(torch_nets.TwoLayerNet(784, 20, 11, dtype=torch.float64), numpy_net)
    assert all(np.array_equal(value, numpy_net.params[key]) for key, value in before.items())  # nothing copied


def test_book_dropout_scaling_and_mask():
    set_seed(4)
    layer = BookDropout(0.25)
    x = torch.rand(300, 100) + 1
    y = layer(x)
    assert torch.equal(y, x * layer.mask)
    assert abs(layer.mask.float().mean().item() - 0.75) < 0.01
    layer.eval()
    assert torch.equal(layer(x), x * 0.75)  # the same one multiplication
    assert layer.p == 0.25 and isinstance(layer, torch.nn.Dropout)


def test_init_has_the_book_meaning():
    set_seed(5)
    he = torch_nets.MultiLayerNet(400, [300], 10, weight_init_std="he")
    xavier = torch_nets.MultiLayerNet(400, [300], 10, weight_init_std="xavier")
    fixed = torch_nets.MultiLayerNet(400, [300], 10, weight_init_std=0.01)
    for net, std in ((he, np.sqrt(2 / 400)), (xavier, np.sqrt(1 / 400)), (fixed, 0.01)):
        weight = net.layers[1].weight
        assert_close(weight.std(), std, "sample standard deviation")
        assert torch.count_nonzero(net.layers[1].bias) == 0


@pytest.mark.parametrize("make, message", [
    (lambda: torch_nets.MultiLayerNet(4, [3], 2, activation="swish"), "activation 'swish'"),
    (lambda: torch_nets.MultiLayerNet(4, [3], 2, weight_init_std="lecun"), "weight_init_std 'lecun'"),
    (lambda: torch_nets.MultiLayerNetExtend(4, [3], 2, use_dropout=True, dropout_ration=1.5), "dropout_ration"),
    (lambda: torch_nets.SimpleConvNet((1, 3, 4), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}), "1x2"),
    (lambda: torch_nets.DeepConvNet(input_dim=(1, 2, 2)), "before pooling 3 is 1x1"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_mismatched_inputs_and_labels_are_named():
    net = torch_nets.TwoLayerNet(784, 20, 10)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 784\); got \(2, 783\)"):
        net(torch.zeros(2, 783))
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    conv = torch_nets.SimpleConvNet()
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\); got \(2, 784\)"):
        conv(torch.zeros(2, 784))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        net.loss(torch.zeros(2, 784), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="integer labels t must have an integer dtype"):
        net.loss(torch.zeros(2, 784), torch.tensor([0.0, 1.0]))


def test_book_keys_name_every_parameter_once():
    net = torch_nets.MultiLayerNetExtend(784, [20, 10], 10, use_batchnorm=True)
    keys = net.book_keys()
    assert list(keys)[:6] == ["W1", "b1", "gamma1", "beta1", "running_mean1", "running_var1"]
    assert keys["W1"] == ("layers.1.weight", True)
    named = {name for name, _ in net.named_parameters()}
    assert named == {k for k, _ in keys.values() if not k.endswith(("running_mean", "running_var"))}


@CUDA_SKIP
@pytest.mark.cuda
def test_cuda_network_equals_cpu_network():
    set_seed(6)
    net = torch_nets.SimpleConvNet(dtype=torch.float64)
    gpu = torch_nets.SimpleConvNet(dtype=torch.float64, device="cuda")
    gpu.load_state_dict(net.state_dict())
    x = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    assert_close(to_numpy(gpu(x.cuda())), to_numpy(net(x)), "forward", "scores")


def test_l1_weight_decay_matches_the_numpy_twin():
    rng = np.random.default_rng(7)
    numpy_net = numpy_nets.MultiLayerNet(784, [20], 10, weight_decay_lambda=0.1, weight_decay_type="l1", rng=rng)
    net = twin(numpy_net, torch_nets.MultiLayerNet, 784, [20], 10, weight_decay_lambda=0.1, weight_decay_type="l1")
    g = load_golden("optimizers_mlp")
    x, t = golden_images(g, flatten=True)[:16], g["t"][:16]
    expected = numpy_net.gradient(x, t)
    loss = net.loss(torch.tensor(x), torch.tensor(t))
    loss.backward()
    for key, grad in book_gradients(net).items():
        assert_close(grad, expected[key], "grad", key)
    assert_close(book_loss(loss, net(torch.tensor(x)), torch.tensor(t)).item(), numpy_net.loss(x, t), "forward", "loss")
    assert make_optimizer("SGD", net).param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("scores", [[[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], [[1e20, 0.0, 0.0], [0.0, 3e19, 0.0]]],
                         ids=["moderate", "huge"])
def test_the_book_semantics_loss_is_the_books_value_with_cross_entropys_gradient(scores):
    from numpy_impl.layers import SoftmaxWithLoss
    labels = np.array([1, 0])
    net = torch_nets.TwoLayerNet(3, 2, 3, dtype=torch.float64).use_book_semantics()
    torch_scores = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    loss = net.data_loss(torch_scores, torch.tensor(labels))
    book = SoftmaxWithLoss()  # the NumPy side's: log(softmax + 1e-7), and (y - t) / N as its gradient
    assert_close(loss.item(), book.forward(np.array(scores), labels), "forward", "book loss")
    loss.backward()
    assert_close(torch_scores.grad.numpy(), book.backward(), "grad", "gradient")


def test_the_book_semantics_put_book_batch_norms_in_place_of_torchs_on_the_same_parameters():
    from torch_impl.layers import BookBatchNorm
    net = torch_nets.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, dtype=torch.float64)
    before = {key: value.clone() for key, value in net.state_dict().items() if "running" not in key}
    net.use_book_semantics()
    norms = [module for module in net.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 2 and all(type(module) is BookBatchNorm for module in norms)
    assert all(not module.running_var.any() for module in norms)  # the book's running variance starts at 0
    after = net.state_dict()
    assert all(torch.equal(after[key], value) for key, value in before.items())
    x = torch.randn(8, 6, dtype=torch.float64)
    net.train()
    net(x)
    first = norms[0]
    rows = net.layers[:list(net.layers).index(first)](x)  # the first batch norm's input
    expected = first.momentum * rows.var(0, unbiased=False)  # 0.9 * 0 + 0.1 * the biased variance
    assert_close(first.running_var.detach().numpy(), expected.detach().numpy(), "forward", "running variance")
    stock = torch_nets.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, dtype=torch.float64)
    stock.train()
    stock(x)  # a network that has trained: its running statistics are kept
    trained = {key: value.clone() for key, value in stock.state_dict().items()}
    stock.use_book_semantics()
    assert all(torch.equal(stock.state_dict()[key], value) for key, value in trained.items())
