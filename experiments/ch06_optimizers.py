"""Chapter 6.1: how the optimizers move, on a toy function and on Fashion-MNIST."""
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from numpy_impl.optimizers import make_optimizer as make_numpy_optimizer
from torch_impl.optimizers import make_optimizer

from .comparison import compare_configurations
from .training import Net

NAIVE_OPTIMIZERS = OrderedDict([("SGD", {"lr": 0.95}), ("Momentum", {"lr": 0.1}), ("Nesterov", {"lr": 0.1}),
                                ("AdaGrad", {"lr": 1.5}), ("RMSprop", {"lr": 0.3}), ("Adam", {"lr": 0.3})])
START = (-7.0, 2.0)


def f(x, y):
    return x ** 2 / 20.0 + y ** 2


def df(x, y):
    return x / 10.0, 2.0 * y


class Point(nn.Module):
    """Two parameters (x, y) for torch.optim; it has no weights to decay."""

    def __init__(self):
        super().__init__()
        self.x = nn.Parameter(torch.tensor(START[0], dtype=torch.float64))
        self.y = nn.Parameter(torch.tensor(START[1], dtype=torch.float64))

    def decayed_weights(self):
        return []


def naive_path(backend, name, hyperparams, steps):
    if backend == "numpy":
        params = {"x": np.array(START[0]), "y": np.array(START[1])}
        optimizer = make_numpy_optimizer(name, **hyperparams)
        path = []
        for _ in range(steps):
            path.append((float(params["x"]), float(params["y"])))
            gx, gy = df(params["x"], params["y"])
            optimizer.update(params, {"x": np.array(gx), "y": np.array(gy)})
        return np.array(path)
    point = Point()
    optimizer = make_optimizer(name, point, **hyperparams)
    path = []
    for _ in range(steps):
        path.append((point.x.item(), point.y.item()))
        optimizer.zero_grad()
        f(point.x, point.y).backward()
        optimizer.step()
    return np.array(path)


def optimizer_compare_naive(ctx):
    """Paths of SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam on f = x^2/20 + y^2 from (-7, 2)."""
    steps = 30
    paths = {(backend, name): naive_path(backend, name, hp, steps)
             for name, hp in NAIVE_OPTIMIZERS.items() for backend in ctx.backends}
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    X, Y = np.meshgrid(np.arange(-10, 10, 0.01), np.arange(-5, 5, 0.01))
    Z = f(X, Y)
    Z[Z > 7] = 0
    distances = {}
    for ax, name in zip(axes.flat, NAIVE_OPTIMIZERS):
        ax.contour(X, Y, Z, colors="gray", linewidths=0.5)
        for backend in ctx.backends:
            path = paths[(backend, name)]
            style = "solid" if backend == "numpy" else "dashed"
            ax.plot(path[:, 0], path[:, 1], "o-" if backend == "numpy" else "x--", color="red" if backend == "numpy"
                    else "blue", markersize=3, linewidth=1, label=f"{backend} ({style})")
            distances[f"{name} [{backend}]"] = float(np.hypot(*path[-1]))
        ax.plot(0, 0, "+k")
        settings = ", ".join(f"{key} {value:g}" for key, value in NAIVE_OPTIMIZERS[name].items())
        ax.set(xlim=(-10, 10), ylim=(-10, 10), title=f"{name} ({settings})", xlabel="x", ylabel="y")
        if ctx.both:
            ax.legend(fontsize=8)
    fig.suptitle(f"{steps} steps on f(x, y) = x\u00b2/20 + y\u00b2 from (-7, 2); + marks the minimum")
    fig.tight_layout()
    ctx.save_figure(fig, "optimizer_compare_naive.png")
    ctx.record("distance_to_minimum_after_30_steps", distances)
    if ctx.both:
        gap = max(float(np.max(np.abs(paths[("numpy", n)] - paths[("torch", n)]))) for n in NAIVE_OPTIMIZERS)
        ctx.record("max_path_difference", gap)
        ctx.summary(f"numpy and torch paths differ by at most {gap:.2e}")
    for key, value in distances.items():
        ctx.summary(f"{key}: distance to the minimum after {steps} steps {value:.4f}")


MNIST_OPTIMIZERS = OrderedDict([("SGD", {"lr": 0.01}), ("Momentum", {"lr": 0.01}), ("Nesterov", {"lr": 0.01}),
                                ("AdaGrad", {"lr": 0.01}), ("RMSprop", {"lr": 0.001}), ("Adam", {"lr": 0.001})])


def optimizer_compare_mnist(ctx):
    """A 5-layer ReLU net (4x100, He) trained with each optimizer, batch 128: the smoothed loss curves."""
    train_size = 3000 if ctx.quick else None
    data = ctx.data(train_size=train_size, test_size=1000 if ctx.quick else None)
    epochs = ctx.epochs_or(5, 3)
    net = Net("MultiLayerNet", (784, [100, 100, 100, 100], 10))
    compare_configurations(ctx, "optimizers", {name: (net, name, hp) for name, hp in MNIST_OPTIMIZERS.items()}, data,
                           epochs, "MultiLayerNet [100]*4 on " + ctx.dataset, "optimizer_compare_mnist.png")
