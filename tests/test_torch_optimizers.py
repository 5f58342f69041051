"""make_optimizer: the book's updates through torch.optim, with weight decay on weights only."""
import numpy as np
import pytest
import torch

import torch_impl.networks as torch_nets
from parity.records import assert_close
from torch_impl.optimizers import BookAdam, make_optimizer


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
