"""Twins of refusal: bad input that both sides must reject.

A RejectionTwin gives the same bad input to the NumPy side and to the torch side; each must raise
(ValueError, RuntimeError, IndexError or TypeError: torch's own modules answer with their own
exception types). Its one record, 'reject', passes only if both did, and otherwise names the side
that accepted the input. A side that accepts bad input silently (a (1, 3) gradient broadcast onto a
(2, 3) parameter) computes something, and a value comparison would not notice. Where both sides are
this project's code (networks built from the book's arguments, optimizers, trainers) rather than a
stock torch module, `same_message` also asks for one message, word for word, on both sides.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl import layers as L
from numpy_impl import optimizers as numpy_optimizers
from numpy_impl.trainer import Trainer as NumpyTrainer
from torch_impl.optimizers import make_optimizer
from torch_impl.trainer import Trainer as TorchTrainer

from ..records import Record
from ..sources import TwinSources, source_of
from ..tolerances import DTYPES
from ..twin import DEVICES
from .layers import TORCH_DTYPES

REFUSALS = (ValueError, RuntimeError, IndexError, TypeError)


@dataclass
class RejectionTwin:
    """numpy(dtype) and torch(dtype, device) each run the bad input; both must raise, with one message
    if same_message."""
    name: str
    numpy: Callable
    torch: Callable
    same_message: bool = False
    dtypes: tuple = DTYPES
    devices: tuple = DEVICES

    def sources(self):
        return TwinSources(source_of(self.numpy), source_of(self.torch),
                           "both must refuse" + (", with one message" if self.same_message else ""))

    def run(self, dtype, device):
        errors = {"numpy": refusal(lambda: self.numpy(dtype)), "torch": refusal(lambda: self.torch(dtype, device))}
        accepted = [side for side, error in errors.items() if error is None]
        if accepted:
            check = f"reject: {' and '.join(accepted)} accepted it"
        elif self.same_message and str(errors["numpy"]) != str(errors["torch"]):
            check = f"reject: the messages differ: numpy {str(errors['numpy'])!r}, torch {str(errors['torch'])!r}"
        else:
            check = "reject"
        failures = float(check != "reject")
        return [Record(self.name, check, dtype, str(device), failures, failures, 0.0, check == "reject")]


def refusal(attempt):
    """The error with which `attempt()` refused, or None if it ran."""
    try:
        attempt()
    except REFUSALS as error:
        return error
    return None


def array(dtype, *shape):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def tensor(dtype, device, *shape):
    return torch.as_tensor(array(dtype, *shape), device=device)


def numpy_step(optimizer, params_shape, grads_shape, dtype):
    optimizer.update({"W": array(dtype, *params_shape)}, {"W": array(dtype, *grads_shape)})


def torch_step(optimizer_name, dtype, device, **hyperparameters):
    make_optimizer(optimizer_name, nn.Linear(3, 2, dtype=TORCH_DTYPES[dtype], device=device), **hyperparameters)


def assign_wrong_gradient(dtype, device):
    """torch's side of a gradient of another shape: a parameter refuses such a .grad."""
    nn.Parameter(tensor(dtype, device, 2, 3)).grad = tensor(dtype, device, 1, 3)


def two_ones():
    """One-hot labels of 8 samples and 3 classes, but for a row holding two ones."""
    labels = np.eye(3)[np.arange(8) % 3]
    labels[5] = [1, 1, 0]
    return labels


def train_small(side, dtype, device, x_train, t_train, **options):
    """One training run of a small network on (x_train, t_train), on `side`, with Trainer `options`."""
    x_test, t_test = array(dtype, 4, 6), np.zeros(4, dtype=np.int64)
    settings = dict(epochs=1, mini_batch_size=2, verbose=False, seed=0, **options)
    if side == "numpy":
        NumpyTrainer(numpy_nets.TwoLayerNet(6, 5, 3, dtype=dtype), x_train, t_train, x_test, t_test,
                     **settings).train()
    else:
        TorchTrainer(torch_nets.TwoLayerNet(6, 5, 3, dtype=TORCH_DTYPES[dtype]), x_train, t_train, x_test, t_test,
                     device=device, **settings).train()


def rejection_twins():
    conv = lambda dtype: L.Convolution(array(dtype, 2, 3, 3, 3), array(dtype, 2))
    return [
        RejectionTwin("Affine[reject,wrong-input-width]",
                      lambda dtype: L.Affine(array(dtype, 6, 4), array(dtype, 4)).forward(array(dtype, 3, 5)),
                      lambda dtype, device: nn.Linear(6, 4, dtype=TORCH_DTYPES[dtype], device=device)(
                          tensor(dtype, device, 3, 5))),
        RejectionTwin("Convolution[reject,wrong-input-channels]",
                      lambda dtype: conv(dtype).forward(array(dtype, 1, 2, 5, 5)),
                      lambda dtype, device: nn.Conv2d(3, 2, 3, dtype=TORCH_DTYPES[dtype], device=device)(
                          tensor(dtype, device, 1, 2, 5, 5))),
        RejectionTwin("Convolution[reject,filter-larger-than-the-input]",
                      lambda dtype: conv(dtype).forward(array(dtype, 1, 3, 2, 2)),
                      lambda dtype, device: nn.Conv2d(3, 2, 3, dtype=TORCH_DTYPES[dtype], device=device)(
                          tensor(dtype, device, 1, 3, 2, 2))),
        RejectionTwin("Convolution[reject,one-bias-too-many]",
                      lambda dtype: L.Convolution(array(dtype, 2, 3, 3, 3), array(dtype, 3)),
                      lambda dtype, device: nn.functional.conv2d(tensor(dtype, device, 1, 3, 5, 5),
                                                                 tensor(dtype, device, 2, 3, 3, 3),
                                                                 tensor(dtype, device, 3))),
        RejectionTwin("Pooling[reject,window-larger-than-the-input]",
                      lambda dtype: L.Pooling(3, 3, 3).forward(array(dtype, 1, 1, 2, 2)),
                      lambda dtype, device: nn.MaxPool2d(3, 3)(tensor(dtype, device, 1, 1, 2, 2))),
        RejectionTwin("Pooling[reject,stride-0]", lambda dtype: L.Pooling(2, 2, 0),
                      lambda dtype, device: nn.MaxPool2d(2, 0)(tensor(dtype, device, 1, 1, 4, 4))),
        RejectionTwin("BatchNormalization[reject,train-on-one-sample]",
                      lambda dtype: L.BatchNormalization(np.ones(3, dtype), np.zeros(3, dtype)).forward(
                          array(dtype, 1, 3), True),
                      lambda dtype, device: nn.BatchNorm1d(3, dtype=TORCH_DTYPES[dtype], device=device).train()(
                          tensor(dtype, device, 1, 3))),
        RejectionTwin("SoftmaxWithLoss[reject,label-out-of-range]",
                      lambda dtype: L.SoftmaxWithLoss().forward(array(dtype, 2, 3), np.array([0, 3])),
                      lambda dtype, device: nn.functional.cross_entropy(
                          tensor(dtype, device, 2, 3), torch.tensor([0, 3], device=device)).item(),
                      # on CUDA an out-of-range target is a device-side assert, which ends the CUDA context
                      devices=("cpu",)),
        RejectionTwin("SGD[reject,negative-lr]", lambda dtype: numpy_optimizers.SGD(lr=-0.1),
                      lambda dtype, device: torch_step("SGD", dtype, device, lr=-0.1), same_message=True),
        RejectionTwin("Adam[reject,beta1-of-1]", lambda dtype: numpy_optimizers.Adam(beta1=1.0),
                      lambda dtype, device: torch_step("Adam", dtype, device, beta1=1.0), same_message=True),
        RejectionTwin("Momentum[reject,negative-momentum]",
                      lambda dtype: numpy_optimizers.Momentum(momentum=-0.9),
                      lambda dtype, device: torch_step("Momentum", dtype, device, momentum=-0.9),
                      same_message=True),
        RejectionTwin("SGD[reject,gradient-of-another-shape]",
                      lambda dtype: numpy_step(numpy_optimizers.SGD(), (2, 3), (1, 3), dtype),
                      assign_wrong_gradient),
        RejectionTwin("SimpleConvNet[reject,input-of-another-shape]",
                      lambda dtype: numpy_nets.SimpleConvNet(dtype=dtype).predict(array(dtype, 2, 1, 20, 20)),
                      lambda dtype, device: torch_nets.SimpleConvNet(dtype=TORCH_DTYPES[dtype], device=device)(
                          tensor(dtype, device, 2, 1, 20, 20))),
        RejectionTwin("Trainer[reject,one-label-fewer-than-images]",
                      lambda dtype: train_small("numpy", dtype, "cpu", array(dtype, 8, 6), np.zeros(7, np.int64)),
                      lambda dtype, device: train_small("torch", dtype, device, array(dtype, 8, 6),
                                                       np.zeros(7, np.int64)), same_message=True),
        RejectionTwin("Trainer[reject,one-hot-labels-with-two-ones]",
                      lambda dtype: train_small("numpy", dtype, "cpu", array(dtype, 8, 6), two_ones()),
                      lambda dtype, device: train_small("torch", dtype, device, array(dtype, 8, 6), two_ones()),
                      same_message=True),
        RejectionTwin("Trainer[reject,evaluate-no-samples]",
                      lambda dtype: train_small("numpy", dtype, "cpu", array(dtype, 8, 6), np.zeros(8, np.int64),
                                                evaluate_sample_num_per_epoch=0),
                      lambda dtype, device: train_small("torch", dtype, device, array(dtype, 8, 6),
                                                        np.zeros(8, np.int64), evaluate_sample_num_per_epoch=0),
                      same_message=True),
        RejectionTwin("Trainer[reject,labels-out-of-range]",
                      lambda dtype: train_small("numpy", dtype, "cpu", array(dtype, 8, 6), np.full(8, 3)),
                      lambda dtype, device: train_small("torch", dtype, device, array(dtype, 8, 6), np.full(8, 3)),
                      same_message=True),
        *network_argument_twins(),
    ]


def build_both(network, **arguments):
    """The NumPy and the torch attempt to build `network` (a name in both networks packages) from the book's
    `arguments`."""
    return (lambda dtype: getattr(numpy_nets, network)(dtype=dtype, **arguments),
            lambda dtype, device: getattr(torch_nets, network)(dtype=TORCH_DTYPES[dtype], device=device,
                                                               **arguments))


def network_argument_twins():
    """Networks built from bad book arguments: both constructors must refuse them with one message."""
    mlp = {"input_size": 6, "hidden_size_list": [5, 4], "output_size": 3}
    bad_arguments = [
        ("TwoLayerNet", "hidden-size-0", {"input_size": 6, "hidden_size": 0, "output_size": 3}),
        ("MultiLayerNetExtend", "float-hidden-size", {**mlp, "hidden_size_list": [5, 4.0]}),
        ("MultiLayerNetExtend", "dropout-ration-of-1", {**mlp, "use_dropout": True, "dropout_ration": 1.0}),
        ("MultiLayerNetExtend", "unknown-activation", {**mlp, "activation": "softplus"}),
        ("MultiLayerNetExtend", "unknown-weight-init", {**mlp, "weight_init_std": "glorot"}),
        ("MultiLayerNetExtend", "weight-decay-type-l3", {**mlp, "weight_decay_type": "l3"}),
        ("SimpleConvNet", "float-stride",
         {"conv_param": {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1.5}}),
        ("SimpleConvNet", "misspelt-conv-param-key", {"conv_param": {"filter_num": 4, "filter_size": 3, "strid": 1}}),
        ("SimpleConvNet", "map-too-small-to-pool", {"input_dim": (1, 3, 6)}),
        ("SimpleConvNet", "input-dim-of-two-sides", {"input_dim": (28, 28)}),
        ("DeepConvNet", "filter-larger-than-its-input",
         {"input_dim": (1, 4, 4), "conv_param_1": {"filter_num": 4, "filter_size": 5}}),
        ("DeepConvNet", "map-too-small-to-pool", {"input_dim": (1, 2, 2)}),
        ("DeepConvNet", "negative-pad", {"conv_param_3": {"filter_num": 4, "filter_size": 3, "pad": -1}}),
    ]
    return [RejectionTwin(f"{network}[reject,{what}]", *build_both(network, **arguments), same_message=True)
            for network, what, arguments in bad_arguments]
