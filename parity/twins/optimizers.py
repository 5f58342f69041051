"""Twins of the book's optimizers: numpy_impl.optimizers against torch_impl.make_optimizer.

Both sides start from the same random parameters of a small MultiLayerNet
(weights W1, W2 and biases b1, b2) and receive the same random gradient
sequence, so their states (m, v, h, velocities) depend on the gradients alone.
Checked: the parameters after one step and after all steps; for stock torch
configurations, that the book's parameters equal the ones predicted from
torch's steps by docs/design.md's relation; for Momentum and Nesterov, that the
book's velocity is -lr times torch's momentum buffer.
"""
from dataclasses import dataclass, field

import numpy as np
import torch

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.optimizers import make_optimizer as make_numpy_optimizer
from parity.convert import book_layout, numpy_to_torch
from torch_impl.optimizers import make_optimizer

from ..records import compare
from ..sources import TwinSources, doc_of, method_sources, source_of
from ..tolerances import DTYPES
from ..twin import DEVICES
from .layers import TORCH_DTYPES

SHAPES = (6, [5], 3)  # MultiLayerNet(6, [5], 3): W1 (6, 5), b1, W2 (5, 3), b2
# the optimizers whose eps differs between the book and torch (docs/design.md), with the name of torch's state
# that holds the running squares the eps is added to
STATE_SQUARES = {"AdaGrad": "sum", "RMSprop": "square_avg", "Adam": "exp_avg_sq"}


def stock_eps_ratio(name, state, hyperparams, step, torch_eps):
    """book step / torch step for one parameter, from torch's state (the eps rows of docs/design.md), torch_eps being
    the eps the stock torch optimizer ran with (its default: 1e-10 for Adagrad, 1e-8 for RMSprop and Adam).

    AdaGrad, RMSprop: (sqrt(h) + torch_eps) / (sqrt(h) + 1e-7).
    Adam: (sqrt(v_hat) + torch_eps) / (sqrt(v_hat) + 1e-7/sqrt(1-beta2^t)), v_hat = v/(1-beta2^t).
    """
    root = state[STATE_SQUARES[name]].sqrt()
    if name != "Adam":
        return (root + torch_eps) / (root + 1e-7)
    correction = np.sqrt(1 - hyperparams.get("beta2", 0.999) ** step)
    return (root / correction + torch_eps) / (root / correction + 1e-7 / correction)


@dataclass
class OptimizerTwin:
    """An optimizer run for `steps` steps on both sides.

    stock: None (torch configured to the book), 'eps' (torch's own eps values) or
    'decay-all' (torch's weight_decay on every parameter, one group).
    grad_scale: the standard deviation of the random gradients.
    """
    name: str
    book_name: str
    hyperparams: dict = field(default_factory=dict)
    steps: int = 50
    weight_decay: float = 0.0
    stock: str | None = None
    grad_scale: float = 1.0
    dtypes: tuple = DTYPES
    devices: tuple = DEVICES

    def build(self, dtype, device, rng):
        numpy_net = numpy_nets.MultiLayerNet(*SHAPES, weight_decay_lambda=self.weight_decay, dtype=dtype, rng=rng)
        for param in numpy_net.params.values():
            param += rng.standard_normal(param.shape).astype(dtype)  # biases nonzero too
        torch_net = numpy_to_torch(numpy_net, torch_nets.MultiLayerNet(
            *SHAPES, weight_decay_lambda=self.weight_decay, dtype=TORCH_DTYPES[dtype], device=device))
        if self.stock == "decay-all":
            torch_optimizer = getattr(torch.optim, self.book_name)(
                torch_net.parameters(), lr=self.hyperparams["lr"], weight_decay=self.weight_decay)
        else:
            torch_optimizer = make_optimizer(self.book_name, torch_net, book_eps=self.stock != "eps",
                                             **self.hyperparams)
        return numpy_net, torch_net, make_numpy_optimizer(self.book_name, **self.hyperparams), torch_optimizer

    def sources(self):
        numpy_net, torch_net, numpy_optimizer, torch_optimizer = self.build("float64", "cpu",
                                                                            np.random.default_rng(0))
        torch_side = f"{torch_optimizer!r}"
        if type(torch_optimizer).__module__.startswith("torch_impl"):
            torch_side += "\n\n" + source_of(type(torch_optimizer))
        relation = {"eps": doc_of(stock_eps_ratio), "decay-all": "torch decays every parameter; the book only "
                    "the weights: the book's bias step is torch's plus lr * weight_decay * bias"}.get(self.stock, "")
        return TwinSources(source_of(type(numpy_optimizer)), torch_side, relation,
                           method_sources(type(numpy_optimizer)))

    def run(self, dtype, device, seed=0):
        rng = np.random.default_rng(seed)
        numpy_net, torch_net, numpy_optimizer, torch_optimizer = self.build(dtype, device, rng)
        keys = torch_net.book_keys()
        torch_params = {key: torch_net.get_parameter(path) for key, (path, _) in keys.items()}

        predicted = {key: book_layout(p.detach().clone(), keys[key][1]) for key, p in torch_params.items()}
        records = []
        for step in range(1, self.steps + 1):
            grads = {key: (self.grad_scale * rng.standard_normal(p.shape)).astype(dtype)
                     for key, p in numpy_net.params.items()}
            # the NumPy networks add lambda*W to dW in gradient(); torch gets it from weight_decay
            numpy_optimizer.update(numpy_net.params, {
                key: g + self.weight_decay * numpy_net.params[key] if key.startswith("W") else g
                for key, g in grads.items()})
            before = {key: book_layout(p.detach().clone(), keys[key][1]) for key, p in torch_params.items()}
            for key, param in torch_params.items():
                grad = torch.as_tensor(grads[key], device=device)
                param.grad = book_layout(grad, keys[key][1]).contiguous()
            torch_optimizer.step()
            for key, param in torch_params.items():
                state = {name: book_layout(value, keys[key][1]) for name, value in torch_optimizer.state[param].items()
                         if torch.is_tensor(value) and value.dim()}
                predicted[key] += self.book_step(key, book_layout(param.detach(), keys[key][1]) - before[key],
                                                 state, before[key], step, torch_optimizer.defaults.get("eps"))
            if step in (1, self.steps):
                kind = "step" if step == 1 else "trajectory"
                for key in numpy_net.params:
                    records.append(compare(self.name, f"{kind}:{key}", kind, numpy_net.params[key],
                                           predicted[key], dtype, device))
        records += self.velocity_records(numpy_optimizer, torch_optimizer, torch_params, keys, dtype, device)
        return records

    def book_step(self, key, torch_step, state, before, step, torch_eps):
        """The book's step for one parameter, predicted from torch's (identity when matched).

        state: torch's optimizer state for it, in the book's layout; before: its value before the step;
        torch_eps: the eps torch's optimizer ran with.
        """
        if self.stock == "eps":
            return torch_step * stock_eps_ratio(self.book_name, state, self.hyperparams, step, torch_eps)
        if self.stock == "decay-all" and not key.startswith("W"):
            return torch_step + self.hyperparams["lr"] * self.weight_decay * before  # undo the bias's decay
        return torch_step

    def velocity_records(self, numpy_optimizer, torch_optimizer, torch_params, keys, dtype, device):
        if self.book_name not in ("Momentum", "Nesterov"):
            return []
        lr = self.hyperparams["lr"]
        return [compare(self.name, f"state:v[{key}]", "trajectory", numpy_optimizer.v[key],
                        -lr * book_layout(torch_optimizer.state[param]["momentum_buffer"], keys[key][1]), dtype, device)
                for key, param in torch_params.items()]


def optimizer_twins():
    hyperparams = {"SGD": {"lr": 0.1}, "Momentum": {"lr": 0.05, "momentum": 0.9},
                   "Nesterov": {"lr": 0.05, "momentum": 0.9}, "AdaGrad": {"lr": 0.1},
                   "RMSprop": {"lr": 0.01, "decay_rate": 0.9}, "Adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}}
    twins = []
    for name, hp in hyperparams.items():
        twins.append(OptimizerTwin(name, name, hp))
        twins.append(OptimizerTwin(f"{name}[weight_decay=0.1]", name, hp, weight_decay=0.1))
    for name in STATE_SQUARES:
        # gradients of ~1e-5 make the eps terms (1e-7 against 1e-8 or 1e-10) change each step by ~1%
        twins.append(OptimizerTwin(f"{name}[stock eps]", name, hyperparams[name], stock="eps", grad_scale=1e-5))
    twins.append(OptimizerTwin("SGD[weight_decay=0.1,decay all params]", "SGD", hyperparams["SGD"],
                               weight_decay=0.1, stock="decay-all"))
    return twins
