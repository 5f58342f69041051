"""Chapter 6.2: weight initialisation: activation distributions, training speed, vanishing gradients."""
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch

from numpy_impl import functions as F_np

from .comparison import compare_configurations
from .training import Net

ACTIVATIONS = OrderedDict([("sigmoid", (F_np.sigmoid, torch.sigmoid)), ("relu", (F_np.relu, torch.relu)),
                           ("tanh", (F_np.tanh, torch.tanh))])
NODES = 100
INIT_STDS = OrderedDict([("std=1", 1.0), ("std=0.01", 0.01), ("Xavier", np.sqrt(1.0 / NODES)),
                         ("He", np.sqrt(2.0 / NODES))])


def activation_statistics(a, activation):
    """How spread out and how saturated a layer's activations are."""
    if activation == "sigmoid":
        saturated = np.mean((a < 0.01) | (a > 0.99))
    elif activation == "tanh":
        saturated = np.mean(np.abs(a) > 0.99)
    else:
        saturated = np.mean(a == 0)
    return {"std": float(np.std(a)), "saturated_or_zero": float(saturated)}


def layer_activations(backend, activation, x, weights):
    numpy_fn, torch_fn = ACTIVATIONS[activation]
    outputs, a = [], x
    for w in weights:
        if backend == "numpy":
            a = numpy_fn(a @ w)
        else:
            a = torch_fn(torch.as_tensor(a) @ torch.as_tensor(w)).numpy()
        outputs.append(a)
    return outputs


def relu_row_maximum(by_backend) -> float:
    """The largest activation of any layer in a row of ReLU histograms: the row's common range."""
    return max(float(np.max(layer)) for outputs in by_backend.values() for layer in outputs)


def weight_init_activation_histogram(ctx):
    """Histograms of 5 layers' activations for sigmoid, ReLU and tanh with std 1, 0.01, Xavier and He."""
    rng = np.random.default_rng(ctx.seed)
    samples = 200 if ctx.quick else 1000
    x = rng.standard_normal((samples, NODES))
    stats = {}
    for activation in ACTIVATIONS:
        fig, axes = plt.subplots(len(INIT_STDS), 5, figsize=(13, 9), sharey="row")
        for row, (init, std) in enumerate(INIT_STDS.items()):
            weights = [rng.standard_normal((NODES, NODES)) * std for _ in range(5)]
            by_backend = {backend: layer_activations(backend, activation, x, weights) for backend in ctx.backends}
            for layer in range(5):
                ax = axes[row, layer]
                title = f"{init}, layer {layer + 1}"
                for backend, outputs in by_backend.items():
                    values = outputs[layer].flatten()
                    if activation == "relu":  # the zeros would set the scale: drawn without them, counted
                        zeros = float(np.mean(values == 0))
                        values = values[values > 0]
                        title = f"{init}, layer {layer + 1}: {zeros:.0%} zero"
                        bins = np.linspace(0, max(relu_row_maximum(by_backend), 1e-12), 31)
                    else:
                        bins = np.linspace(-1, 1, 31) if activation == "tanh" else np.linspace(0, 1, 31)
                    ax.hist(values, bins, histtype="stepfilled" if backend == "numpy" else "step", alpha=0.7,
                            label=backend)
                    stats[f"{activation}/{init}/layer{layer + 1}/{backend}"] = activation_statistics(
                        outputs[layer], activation)
                ax.set_title(title, fontsize=8)
                ax.tick_params(labelsize=6)
            if ctx.both:
                gap = max(float(np.max(np.abs(a - b))) for a, b in zip(by_backend["numpy"], by_backend["torch"]))
                stats[f"{activation}/{init}/backend_difference"] = gap
        fig.suptitle(f"{activation}: activation histograms of 5 layers of {NODES} units"
                     + (" (the positive ones, on each row's range; the zeros counted in the titles)"
                        if activation == "relu" else ""))
        fig.tight_layout()
        ctx.save_figure(fig, f"weight_init_activation_histogram_{activation}.png")
    ctx.record("activation_statistics", stats)
    backend = ctx.backends[0]
    for activation in ACTIVATIONS:
        for init in INIT_STDS:
            s = stats[f"{activation}/{init}/layer5/{backend}"]
            ctx.summary(f"{activation:7s} {init:8s} layer 5: std {s['std']:.4f}, "
                        f"{'zero' if activation == 'relu' else 'saturated'} {s['saturated_or_zero']:.1%}")


def weight_init_compare(ctx):
    """A 5-layer ReLU net trained with SGD from std=0.01, Xavier and He initialisation."""
    data = ctx.data(train_size=3000 if ctx.quick else None, test_size=1000 if ctx.quick else None)
    epochs = ctx.epochs_or(4, 3)
    configurations = {label: (Net("MultiLayerNet", (784, [100, 100, 100, 100], 10), {"weight_init_std": init}),
                              "SGD", {"lr": 0.01})
                      for label, init in (("std=0.01", 0.01), ("Xavier", "xavier"), ("He", "he"))}
    compare_configurations(ctx, "inits", configurations, data, epochs,
                           "weight initialisation, ReLU [100]*4, SGD lr 0.01", "weight_init_compare.png")


VANISHING_CASES = [("sigmoid", "Gaussian std=0.01", 0.01), ("sigmoid", "Xavier", "xavier"), ("sigmoid", "He", "he"),
                   ("relu", "Gaussian std=0.01", 0.01), ("relu", "Xavier", "xavier"), ("relu", "He", "he")]


def vanishing_gradient(ctx):
    """Mean |dL/dW| per layer of a 10-layer net, sigmoid and ReLU with Gaussian, Xavier and He initialisation."""
    depth = 10
    batch = ctx.data(train_size=100)
    norms = {}
    for activation, label, init in VANISHING_CASES:
        net = Net("MultiLayerNet", (784, [100] * (depth - 1), 10), {"activation": activation, "weight_init_std": init})
        networks = ctx.build(net)
        for backend, network in networks.items():
            (x, t), _ = batch[backend]
            if backend == "numpy":
                grads = network.gradient(x, t)
            else:
                network.train()
                network.zero_grad()
                network.loss(x, t).backward()
                grads = {f"W{i + 1}": w.grad.T.cpu().numpy() for i, w in enumerate(network.decayed_weights())}
            norms[f"{activation}, {label} [{backend}]"] = [float(np.mean(np.abs(grads[f"W{i}"])))
                                                           for i in range(1, depth + 1)]
    ctx.record("mean_abs_weight_gradient_per_layer", norms)
    fig, ax = plt.subplots(figsize=(8, 5))
    for index, (key, values) in enumerate(norms.items()):
        ax.semilogy(range(1, depth + 1), values, "o-" if "[numpy]" in key else "x--",
                    color=f"C{index // len(ctx.backends)}", label=key)
    ax.set(xlabel="layer", ylabel="mean |dL/dW|", title=f"gradients through {depth} layers at initialisation")
    ax.legend(fontsize=7)
    ctx.save_figure(fig, "vanishing_gradient.png")
    for key, values in norms.items():
        ctx.summary(f"{key}: layer 1 / layer {depth} gradient ratio {values[0] / values[-1]:.2e}")
