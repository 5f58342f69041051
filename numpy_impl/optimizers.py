"""Parameter update rules of the book (common/optimizer.py).

Each optimizer's `update(params, grads)` changes the arrays of the `params`
dict in place (the network's layers hold the same arrays) and keeps per-key
state created on the first call, shaped and typed like the parameter.
"""
import numpy as np

from dlfs_common.book_optimizers import optimizer_settings
from dlfs_common.checks import check_hyperparameters

ADAPTIVE_EPS = 1e-7  # the book adds this outside the square root


def check_gradients(params: dict, grads: dict) -> None:
    """Raise ValueError unless grads has exactly params' keys, each gradient of its parameter's shape."""
    if set(params) != set(grads):
        missing, extra = sorted(set(params) - set(grads)), sorted(set(grads) - set(params))
        raise ValueError(f"grads must have the keys of params; missing {missing}, unexpected {extra}")
    for key, value in params.items():
        if np.shape(grads[key]) != np.shape(value):
            raise ValueError(f"grads[{key!r}] has shape {np.shape(grads[key])}; its parameter has shape "
                             f"{np.shape(value)}")


class SGD:
    """p -= lr * g"""

    def __init__(self, lr=0.01):
        check_hyperparameters("SGD", lr)
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class Momentum:
    """v = momentum*v - lr*g; p += v"""

    def __init__(self, lr=0.01, momentum=0.9):
        check_hyperparameters("Momentum", lr, momentum=momentum)
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov:
    """Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901).

    p += momentum**2 * v - (1 + momentum) * lr * g, then v = momentum*v - lr*g.

    The book's first printing updated v first and then moved p with the new v,
    which is not Nesterov's method (its first step 1.43x too long at momentum
    0.9); the book's repository has since corrected it to this form, which is
    `torch.optim.SGD(nesterov=True)`.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        check_hyperparameters("Nesterov", lr, momentum=momentum)
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


class AdaGrad:
    """h += g*g; p -= lr * g / (sqrt(h) + 1e-7)"""

    def __init__(self, lr=0.01):
        check_hyperparameters("AdaGrad", lr)
        self.lr = lr
        self.h = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + ADAPTIVE_EPS)


class RMSprop:
    """h = decay_rate*h + (1-decay_rate)*g*g; p -= lr * g / (sqrt(h) + 1e-7)"""

    def __init__(self, lr=0.01, decay_rate=0.99):
        check_hyperparameters("RMSprop", lr, decay_rate=decay_rate)
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + ADAPTIVE_EPS)


class Adam:
    """Adam (http://arxiv.org/abs/1412.6980v8), in the book's form.

    m += (1-beta1)*(g-m); v += (1-beta2)*(g*g-v);
    p -= lr_t * m / (sqrt(v) + 1e-7) with lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t).
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        check_hyperparameters("Adam", lr, beta1=beta1, beta2=beta2)
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        check_gradients(params, grads)
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * float(np.sqrt(1.0 - self.beta2 ** self.iter)) / (1.0 - self.beta1 ** self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + ADAPTIVE_EPS)


OPTIMIZERS = {"SGD": SGD, "Momentum": Momentum, "Nesterov": Nesterov, "AdaGrad": AdaGrad, "RMSprop": RMSprop,
              "Adam": Adam}


def make_optimizer(name: str, **hyperparams):
    """An optimizer by its name, case-insensitive ('SGD', 'adam', 'rmsprop', ...); the names, the
    hyper-parameters each takes and their ranges are dlfs_common.book_optimizers'."""
    book_name, settings = optimizer_settings(name, hyperparams)
    return OPTIMIZERS[book_name](**settings)
