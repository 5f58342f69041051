# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 6: training techniques
#
# Optimizers, weight initialisation, batch normalisation, weight decay, dropout and a hyper-parameter search,
# each run on the NumPy side (`numpy_impl`, the book's code) and the torch side (`torch_impl`: `torch.optim`,
# `nn.BatchNorm1d`, `nn.Dropout`, ...) from the same weights and batches, with the parity harness's checks
# inline. Quick settings by default (a few seconds a section); `FULL_RUN = True` runs the book's.

# %%
FULL_RUN = False

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import parity
from numpy_impl import networks as numpy_networks
from numpy_impl.datasets import load_mnist
from numpy_impl.optimizers import make_optimizer as make_numpy_optimizer
from numpy_impl.trainer import Trainer as NumpyTrainer
from numpy_impl.util import smooth_curve
from parity.convert import match_torch_semantics, numpy_to_torch
from parity.masks import record_masks, replay_masks
from parity.records import compare
from torch_impl import networks as torch_networks
from torch_impl.optimizers import make_optimizer as make_torch_optimizer
from torch_impl.trainer import Trainer as TorchTrainer

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3.6)})
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)


def agreement(name, numpy_value, torch_value, kind="trajectory"):
    print(compare("notebook", name, kind, numpy_value, torch_value, "float64", "cpu").describe())


# %% [markdown]
# ## 1. The optimizers on a toy function
#
# `f(x, y) = x²/20 + y²` is 20 times steeper along y than along x: SGD zigzags, Momentum overshoots and
# returns, AdaGrad, RMSprop and Adam scale each coordinate's step by its own history. NumPy's optimizers take
# `update(params, grads)` with the gradient written out; torch's are `torch.optim` optimizers configured to the
# book's updates by `torch_impl.optimizers.make_optimizer`, fed by autograd.

# %%
def f(x, y):
    return x ** 2 / 20.0 + y ** 2


class Point(nn.Module):
    """The two coordinates as one parameter, for torch.optim."""

    def __init__(self, start):
        super().__init__()
        self.xy = nn.Parameter(torch.tensor(start, dtype=torch.float64))


settings = {"SGD": {"lr": 0.95}, "Momentum": {"lr": 0.1}, "Nesterov": {"lr": 0.1},
            "AdaGrad": {"lr": 1.5}, "RMSprop": {"lr": 0.3}, "Adam": {"lr": 0.3}}
start, steps = (-7.0, 2.0), 30
paths = {}
for name, hyperparameters in settings.items():
    params = {"xy": np.array(start)}
    optimizer = make_numpy_optimizer(name, **hyperparameters)
    numpy_path = []
    for _ in range(steps):
        numpy_path.append(params["xy"].copy())
        x, y = params["xy"]
        optimizer.update(params, {"xy": np.array([x / 10.0, 2.0 * y])})  # the gradient, by hand

    point = Point(start)
    optimizer = make_torch_optimizer(name, point, **hyperparameters)
    torch_path = []
    for _ in range(steps):
        torch_path.append(point.xy.detach().clone().numpy())
        optimizer.zero_grad()
        f(*point.xy).backward()
        optimizer.step()
    paths[name] = np.array(numpy_path), np.array(torch_path)
    agreement(f"{name} path", *paths[name])

X, Y = np.meshgrid(np.arange(-10, 10, 0.05), np.arange(-5, 5, 0.05))
fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
for ax, (name, (numpy_path, torch_path)) in zip(axes.flat, paths.items()):
    ax.contour(X, Y, f(X, Y), levels=[0.25, 1, 2, 4, 7], colors="gray", linewidths=0.5)
    ax.plot(numpy_path[:, 0], numpy_path[:, 1], "o-", color="red", markersize=3, label="NumPy (solid)")
    ax.plot(torch_path[:, 0], torch_path[:, 1], "x--", color="blue", markersize=3, label="torch (dashed)")
    ax.set(title=f"{name}, lr {settings[name]['lr']}", xlabel="x", ylabel="y", xlim=(-10, 10), ylim=(-5, 5))
    ax.legend(fontsize=8)
fig.suptitle(f"{steps} steps on f(x, y) = x²/20 + y² from {start}")
fig.tight_layout()
plt.show()

# %% [markdown]
# The harness checks each optimizer's update on random parameters and gradients over many steps:

# %%
parity.run_twins("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", summary=True)

# %% [markdown]
# ## 2. The optimizers on Fashion-MNIST
#
# A five-layer ReLU network (`MultiLayerNet`, four hidden layers of 100, He initialisation), mini-batches of 128.
# `train_both` builds the pair the way every comparison below does: the torch network takes the NumPy one's
# weights (`numpy_to_torch`), the NumPy network takes PyTorch's loss and running variance
# (`match_torch_semantics`), the same seed draws the same batches on both, and the dropout masks torch draws are
# replayed on the NumPy side (`record_masks`, `replay_masks`).

# %%
TRAINER_OPTIONS = {"epochs", "mini_batch_size", "optimizer", "optimizer_param", "evaluate_sample_num_per_epoch"}


def train_both(kind, *args, train_size=None, test_size=None, seed=0, **options):
    """Train numpy_impl's and torch_impl's `kind`(*args, **network options) from the same weights, batches and
    dropout masks; returns (numpy trainer, torch trainer)."""
    network_options = {key: options.pop(key) for key in list(options) if key not in TRAINER_OPTIONS}
    numpy_net = getattr(numpy_networks, kind)(*args, rng=np.random.default_rng(seed), **network_options)
    numpy_net = match_torch_semantics(numpy_net)
    torch_net = getattr(torch_networks, kind)(*args, dtype=torch.float64, **network_options)
    numpy_to_torch(numpy_net, torch_net)
    data = (x_train[:train_size], t_train[:train_size], x_test[:test_size], t_test[:test_size])
    torch.manual_seed(seed)
    masks, stop_recording = record_masks(torch_net)
    torch_trainer = TorchTrainer(torch_net, *data, seed=seed, verbose=False, device="cpu", **options)
    torch_trainer.train()
    stop_recording()
    replay_masks(numpy_net, masks)
    numpy_trainer = NumpyTrainer(numpy_net, *data, seed=seed, verbose=False, **options)
    numpy_trainer.train()
    return numpy_trainer, torch_trainer


# %%
mnist_settings = {"SGD": {"lr": 0.01}, "Momentum": {"lr": 0.01}, "AdaGrad": {"lr": 0.01}, "Adam": {"lr": 0.001}}
fig, ax = plt.subplots(figsize=(7, 4))
for index, (name, hyperparameters) in enumerate(mnist_settings.items()):
    numpy_trainer, torch_trainer = train_both(
        "MultiLayerNet", 784, [100] * 4, 10, train_size=None if FULL_RUN else 3000, test_size=1000,
        epochs=4 if FULL_RUN else 2, mini_batch_size=128, optimizer=name, optimizer_param=hyperparameters,
        evaluate_sample_num_per_epoch=1000)
    agreement(f"{name} loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list)
    ax.plot(smooth_curve(np.array(numpy_trainer.train_loss_list)), "-", color=f"C{index}", label=f"{name} (NumPy)")
    ax.plot(smooth_curve(np.array(torch_trainer.train_loss_list)), "--", color=f"C{index}", label=f"{name} (torch)")
ax.set(xlabel="iteration", ylabel="training loss (smoothed)", title="MultiLayerNet [100]*4 on Fashion-MNIST",
       ylim=(0, 2.5))
ax.legend(ncol=2, fontsize=8)
plt.show()

# %% [markdown]
# ## 3. Weight initialisation
#
# Five sigmoid layers of 100 units on 1000 random inputs: with weights of standard deviation 1 the activations
# pile up at 0 and 1 (where sigmoid's gradient vanishes), with 0.01 they all sit near 0.5 (every unit computes
# the same), with Xavier's `1/sqrt(n)` they stay spread. The torch side runs the same weights through
# `nn.Linear` and `nn.Sigmoid`.

# %%
inputs = np.random.default_rng(0).standard_normal((1000, 100))
scales = {"std 1": 1.0, "std 0.01": 0.01, "Xavier": np.sqrt(1.0 / 100)}
fig, axes = plt.subplots(len(scales), 5, figsize=(12, 6), sharey=True)
for row, (label, scale) in zip(axes, scales.items()):
    weights = [np.random.default_rng(layer).standard_normal((100, 100)) * scale for layer in range(5)]
    a_numpy, a_torch = inputs, torch.tensor(inputs)
    for layer, (ax, W) in enumerate(zip(row, weights), start=1):
        a_numpy = 1 / (1 + np.exp(-(a_numpy @ W)))
        linear = nn.Linear(100, 100, bias=False, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W.T))
        a_torch = torch.sigmoid(linear(a_torch)).detach()
        ax.hist(a_numpy.ravel(), bins=30, range=(0, 1), color="C0", label="NumPy")
        ax.hist(a_torch.numpy().ravel(), bins=30, range=(0, 1), histtype="step", color="k", linestyle="--",
                label="torch (dashed)")
        ax.set(title=f"{label}: layer {layer}", xlabel="activation")
    row[0].set_ylabel("count")
    agreement(f"{label}: layer-5 activations", a_numpy, a_torch, "forward")
axes[0, 0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The networks take the book's `weight_init_std` on both sides: a number, `'xavier'` (`sqrt(1/fan_in)`) or
# `'he'` (`sqrt(2/fan_in)`). On the torch side that is `torch.nn.init` with the book's scale; the standard
# deviation drawn should be the scale asked for, within sampling error:

# %%
torch.manual_seed(0)
torch_net = torch_networks.MultiLayerNet(784, [100] * 4, 10, weight_init_std="he", dtype=torch.float64)
first_layer = [module for module in torch_net.layers if isinstance(module, nn.Linear)][0]
print(compare("He init", "std of W1", "sample standard deviation", first_layer.weight.std().item(),
              np.sqrt(2 / 784), "float64", "cpu").describe())

# %% [markdown]
# ## 4. Batch normalisation
#
# `MultiLayerNetExtend` with and without batch norm, five hidden layers, trained on 1000 images with plain SGD
# from small weights (scale 0.05): the plain network stays stuck near chance, the normalised one learns.
# PyTorch's `nn.BatchNorm1d` computes the same training output and gradients as the book's layer; its running
# variance differs (unbiased, starting at 1): that relation is in `docs/design.md` and `parity.relations`.

# %%
epochs = 20 if FULL_RUN else 8
fig, ax = plt.subplots(figsize=(7, 4))
for index, use_batchnorm in enumerate((True, False)):
    numpy_trainer, torch_trainer = train_both(
        "MultiLayerNetExtend", 784, [100] * 5, 10, train_size=1000, test_size=1000, weight_init_std=0.05,
        use_batchnorm=use_batchnorm, epochs=epochs, mini_batch_size=100, optimizer_param={"lr": 0.01})
    label = "batch norm" if use_batchnorm else "plain"
    agreement(f"{label} loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list)
    ax.plot(numpy_trainer.train_acc_list, "-o", color=f"C{index}", label=f"{label} (NumPy)")
    ax.plot(torch_trainer.train_acc_list, "--x", color=f"C{index}", label=f"{label} (torch)")
ax.set(xlabel="epoch", ylabel="training accuracy", title="batch norm, weights of scale 0.05, SGD lr 0.01")
ax.legend()
plt.show()

# %%
parity.run_twins("BatchNormalization[2-D,train]", "BatchNormalization[2-D,train,book]",
                 "BatchNormalization[2-D,eval]")

# %% [markdown]
# ## 5. Overfitting: weight decay and dropout
#
# The book's recipe for overfitting: a seven-layer network on only 300 images. The training accuracy reaches
# 1 while the test accuracy stays far below. Weight decay (L2, λ = 0.1) and dropout (ratio 0.2) narrow the gap.
# The quick run (30 epochs at a larger learning rate) shows the gap opening; the full run (201 epochs, lr 0.01)
# shows the book's picture (the README's results table: training accuracy 1.0, test 0.76 without regularisation).
# On the torch side weight decay is `torch.optim`'s `weight_decay` on the weights' parameter group, and dropout
# is `torch_impl.layers.BookDropout` (the book scales at test time, not in training); its masks are replayed
# on the NumPy side.

# %%
configurations = {"no regularisation": {}, "weight decay 0.1": {"weight_decay_lambda": 0.1},
                  "dropout 0.2": {"use_dropout": True, "dropout_ration": 0.2}}
epochs, lr = (201, 0.01) if FULL_RUN else (30, 0.05)  # quick: a larger step reaches the overfit state sooner
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
for ax, (label, options) in zip(axes, configurations.items()):
    numpy_trainer, torch_trainer = train_both(
        "MultiLayerNetExtend", 784, [100] * 6, 10, train_size=300, test_size=None if FULL_RUN else 1000,
        epochs=epochs, mini_batch_size=100, optimizer_param={"lr": lr}, **options)
    agreement(f"{label} loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list)
    for trainer, style, backend in ((numpy_trainer, "-", "NumPy"), (torch_trainer, "--", "torch")):
        ax.plot(trainer.train_acc_list, style, color="C0", label=f"train ({backend})")
        ax.plot(trainer.test_acc_list, style, color="C1", label=f"test ({backend})")
    ax.set(title=f"{label}, SGD lr {lr}", xlabel="epoch")
axes[0].set_ylabel("accuracy")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Hyper-parameter search
#
# The book's random search: learning rates drawn from 10^U(-6, -2) and weight decays from 10^U(-8, -4), each
# trial trained on 400 images and scored on 100 held out from them (never on the test set). The trials run on
# the NumPy side; the best one is then trained again on the torch side, which reaches the same validation
# accuracy from the same weights and batches. (`python -m experiments run hyperparameter_optimization` runs the
# full search.)

# %%
trials = 100 if FULL_RUN else 6
epochs = 50 if FULL_RUN else 20
x_search, t_search = x_train[:500], t_train[:500]
x_fit, t_fit, x_val, t_val = x_search[100:], t_search[100:], x_search[:100], t_search[:100]
sampler = np.random.default_rng(0)
results = []
for trial in range(trials):
    lr, weight_decay = 10 ** sampler.uniform(-6, -2), 10 ** sampler.uniform(-8, -4)
    network = numpy_networks.MultiLayerNet(784, [100] * 5, 10, weight_decay_lambda=weight_decay,
                                           rng=np.random.default_rng(trial))
    trainer = NumpyTrainer(network, x_fit, t_fit, x_val, t_val, epochs=epochs, mini_batch_size=100,
                           optimizer_param={"lr": lr}, seed=trial, verbose=False)
    trainer.train()
    results.append((trainer.test_acc_list[-1], lr, weight_decay, trainer.test_acc_list, trial))
results.sort(key=lambda result: -result[0])
for accuracy, lr, weight_decay, _, trial in results[:3]:
    print(f"trial {trial}: validation accuracy {accuracy:.2f}, lr {lr:.2e}, weight decay {weight_decay:.2e}")

fig, ax = plt.subplots()
for rank, (_, lr, weight_decay, curve, _) in enumerate(results[:5]):
    ax.plot(curve, label=f"#{rank + 1}: lr {lr:.1e}, decay {weight_decay:.1e}")
ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"the best of {trials} random trials (NumPy)")
ax.legend(fontsize=8)
plt.show()

# %%
best_accuracy, lr, weight_decay, _, trial = results[0]
torch.manual_seed(trial)
torch_net = torch_networks.MultiLayerNet(784, [100] * 5, 10, weight_decay_lambda=weight_decay,
                                         dtype=torch.float64)
numpy_to_torch(numpy_networks.MultiLayerNet(784, [100] * 5, 10, rng=np.random.default_rng(trial)), torch_net)
torch_trainer = TorchTrainer(torch_net, x_fit, t_fit, x_val, t_val, epochs=epochs, mini_batch_size=100,
                             optimizer_param={"lr": lr}, seed=trial, verbose=False, device="cpu")
torch_trainer.train()
print(f"best trial on torch: validation accuracy {torch_trainer.test_acc_list[-1]:.2f} "
      f"(NumPy: {best_accuracy:.2f})")

# %% [markdown]
# ## Exercise: your own Momentum
#
# Write the Momentum optimizer: `__init__(self, lr=0.01, momentum=0.9)` and `update(params, grads)`, which keeps
# one velocity per parameter in the dict `self.v` (`v = momentum * v - lr * grad`, then `param += v`) and changes
# the arrays of `params` in place. The harness runs it for many steps beside `torch.optim.SGD(momentum=...)`,
# configured to the same update, and compares the parameters after each step and the velocities with torch's
# momentum buffers (so it looks for the book's name, `v`). A solution:

# %%
class MyMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(value) for key, value in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


assert parity.check(MyMomentum, "Momentum")

# %% [markdown]
# ## Exercise: what courses add
#
# Courses built on the book add batch norm to `MultiLayerNet` (`use_batchnorm=True`) and combine dropout with
# L1 weight decay (`weight_decay_type="l1"`: the penalty λ·Σ|W|, whose gradient λ·sign(W) the NumPy side adds by
# hand and torch's autograd derives). Train both with `train_both` and compare their curves; then run the
# harness's own twins of these networks. Try other ratios and λ.

# %%
for label, kind, options in (("MultiLayerNet with batch norm", "MultiLayerNet", {"use_batchnorm": True}),
                             ("dropout 0.2 + L1 0.01", "MultiLayerNetExtend",
                              {"use_dropout": True, "dropout_ration": 0.2, "weight_decay_lambda": 0.01,
                               "weight_decay_type": "l1"})):
    numpy_trainer, torch_trainer = train_both(kind, 784, [100] * 3, 10, train_size=1000, test_size=1000,
                                              epochs=5, optimizer_param={"lr": 0.05}, **options)
    agreement(f"{label}: loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list)
    print(f"{label}: test accuracy NumPy {numpy_trainer.test_acc_list[-1]:.3f}, "
          f"torch {torch_trainer.test_acc_list[-1]:.3f}")

# %%
parity.run_twins("MultiLayerNet[batchnorm]", "MultiLayerNetExtend[dropout,l1]*", summary=True)
