"""make_optimizer: the book's updates through torch.optim, with weight decay on weights only."""
import numpy as np
import pytest
import torch

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from parity.records import assert_close
from numpy_impl.optimizers import make_optimizer as make_numpy_optimizer
from parity.convert import torch_to_numpy
from torch_helpers import DEVICES, twin
from torch_impl.optimizers import BookAdam, make_optimizer

HYPERPARAMS = {"SGD": {"lr": 0.1}, "Momentum": {"lr": 0.05, "momentum": 0.8}, "Nesterov": {"lr": 0.05},
               "AdaGrad": {"lr": 0.05}, "RMSprop": {"lr": 0.01, "decay_rate": 0.9},
               "Adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(HYPERPARAMS))
def test_fifty_steps_of_random_gradients_equal_the_numpy_optimizer(name, device):
    rng = np.random.default_rng(0)
    numpy_net = numpy_nets.MultiLayerNet(6, [5], 3, weight_decay_lambda=0.1, rng=rng)
    net = twin(numpy_net, torch_nets.MultiLayerNet, 6, [5], 3, weight_decay_lambda=0.1, device=device)
    numpy_optimizer = make_numpy_optimizer(name, **HYPERPARAMS[name])
    optimizer = make_optimizer(name, net, **HYPERPARAMS[name])
    params = dict(net.named_parameters())
    for _ in range(50):
        grads = {key: rng.standard_normal(value.shape) for key, value in numpy_net.params.items()}
        # the NumPy network adds lambda*W to dW inside gradient(); do the same here
        numpy_optimizer.update(numpy_net.params, {k: g + (0.1 * numpy_net.params[k] if k.startswith("W") else 0)
                                                  for k, g in grads.items()})
        for key, (torch_key, transposed) in net.book_keys().items():
            grad = torch.tensor(grads[key], device=device)
            params[torch_key].grad = grad.T.contiguous() if transposed else grad
        optimizer.step()
    result = torch_to_numpy(net, numpy_nets.MultiLayerNet(6, [5], 3))
    for key in numpy_net.params:
        assert_close(result.params[key], numpy_net.params[key], "trajectory", f"{name} {key}")


def test_weight_decay_goes_to_weights_only():
    net = torch_nets.MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, weight_decay_lambda=0.3)
    optimizer = make_optimizer("Adam", net)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.3 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(net.layers[1].weight), id(net.layers[4].weight)}
    assert len(plain["params"]) == 4  # two biases, gamma and beta
    assert make_optimizer("SGD", net, weight_decay_lambda=0.0).param_groups[0]["weight_decay"] == 0.0


def test_book_and_stock_eps():
    net = torch_nets.TwoLayerNet(4, 3, 2)
    assert make_optimizer("AdaGrad", net).defaults["eps"] == 1e-7
    assert make_optimizer("RMSprop", net).defaults["eps"] == 1e-7
    assert make_optimizer("AdaGrad", net, book_eps=False).defaults["eps"] == 1e-10
    assert make_optimizer("RMSprop", net, book_eps=False).defaults["eps"] == 1e-8
    stock = make_optimizer("Adam", net, book_eps=False)
    assert type(stock) is torch.optim.Adam and stock.defaults["eps"] == 1e-8
    book = make_optimizer("Adam", net, beta2=0.99)
    net(torch.ones(1, 4)).sum().backward()
    book.step()
    book.step()
    assert_close(book.param_groups[0]["eps"], 1e-7 / np.sqrt(1 - 0.99 ** 2), "hand derivation")


def test_book_adam_state_dict_keeps_its_step():
    net = torch_nets.TwoLayerNet(4, 3, 2)
    optimizer = make_optimizer("Adam", net)
    for _ in range(3):
        net(torch.ones(1, 4)).sum().backward()
        optimizer.step()
    restored = make_optimizer("Adam", net)
    assert isinstance(restored, BookAdam) and restored.book_step == 0
    restored.load_state_dict(optimizer.state_dict())
    assert restored.book_step == 3


def test_unknown_names_and_hyperparameters():
    net = torch_nets.TwoLayerNet(4, 3, 2)
    with pytest.raises(ValueError, match="unknown optimizer 'LBFGS'"):
        make_optimizer("LBFGS", net)
    with pytest.raises(ValueError, match=r"Momentum takes \['lr', 'momentum'\]; got unexpected \['beta1'\]"):
        make_optimizer("Momentum", net, beta1=0.9)


def test_nesterov_is_torch_sgd_nesterov():
    net = torch_nets.TwoLayerNet(4, 3, 2)
    optimizer = make_optimizer("Nesterov", net, lr=0.1, momentum=0.7)
    assert type(optimizer) is torch.optim.SGD
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.7
