"""Every experiment by the book's script name; the first line of each docstring says what it shows."""
from collections import OrderedDict

from .ch04_gradients import gradient_1d, gradient_2d, gradient_method, gradient_simplenet
from .ch05_backprop import train_neuralnet
from .ch06_batchnorm import batch_norm_gradient_check, batch_norm_test
from .ch06_hyperparameter import hyperparameter_optimization
from .ch06_init import vanishing_gradient, weight_init_activation_histogram, weight_init_compare
from .ch06_optimizers import optimizer_compare_mnist, optimizer_compare_naive
from .ch06_regularization import overfit_dropout, overfit_weight_decay
from .ch07_convnet import train_convnet
from .ch08_deepnet import train_deepnet

EXPERIMENTS = OrderedDict((function.__name__, function) for function in (
    gradient_1d, gradient_2d, gradient_method, gradient_simplenet,
    train_neuralnet,
    optimizer_compare_naive, optimizer_compare_mnist,
    weight_init_activation_histogram, weight_init_compare, vanishing_gradient,
    batch_norm_test, batch_norm_gradient_check,
    overfit_weight_decay, overfit_dropout,
    hyperparameter_optimization,
    train_convnet,
    train_deepnet,
))

# Options a chapter 4 experiment has no use for: it evaluates closed-form functions in float64 on the
# CPU, with no data set, no training epochs and no random draws. `run` refuses them rather than
# ignore them silently.
UNUSED_OPTIONS = {name: ("device", "dtype", "dataset", "download", "epochs", "seed", "acceleration")
                  for name in ("gradient_1d", "gradient_2d", "gradient_method", "gradient_simplenet")}

# `make demo`: a quick run of these, then the parity report
DEMO = ("gradient_method", "optimizer_compare_naive", "optimizer_compare_mnist", "weight_init_compare",
        "batch_norm_test", "overfit_dropout", "train_convnet")


def describe(name):
    return EXPERIMENTS[name].__doc__.strip().splitlines()[0]
