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
# # Chapter 5: backpropagation
#
# The book writes each layer as a class with a `forward` and a `backward`: backward takes the gradient of the
# loss with respect to the layer's output and returns it with respect to the layer's input, keeping the
# gradients of its own parameters (`dW`, `db`). PyTorch writes only the forward; autograd derives the backward.
# Each section runs a `numpy_impl.layers` class beside the `torch.nn` module that twins it, then the parity
# harness's own checks of that layer (`parity.run_twins`: float64 and float32, several shapes). Quick settings
# by default; `FULL_RUN = True` trains as long as the book.

# %%
FULL_RUN = False

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import parity
from numpy_impl import layers
from numpy_impl.datasets import load_mnist
from parity.records import compare

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3.6)})
rng = np.random.default_rng(0)


def side_by_side(name, numpy_value, torch_value, kind="forward"):
    """One line: how far the NumPy value is from the torch one, against the float64 tolerance of `kind`."""
    print(compare("notebook", name, kind, numpy_value, torch_value, "float64", "cpu").describe())


# %% [markdown]
# ## 1. Activation layers: ReLU and sigmoid
#
# ReLU's backward passes the gradient where the input was positive and blocks it elsewhere; sigmoid's
# multiplies it by `y * (1 - y)`, using the output it kept from forward. For torch, the gradient flowing in
# (`dout`) is handed to `backward` of the output.

# %%
x = rng.standard_normal((4, 5))
dout = rng.standard_normal((4, 5))

for numpy_layer, torch_module in ((layers.Relu(), nn.ReLU()), (layers.Sigmoid(), nn.Sigmoid())):
    name = type(numpy_layer).__name__
    out_numpy = numpy_layer.forward(x.copy())  # the book's Relu writes its output into its input
    dx_numpy = numpy_layer.backward(dout.copy())

    x_torch = torch.tensor(x, requires_grad=True)
    out_torch = torch_module(x_torch)
    out_torch.backward(torch.tensor(dout))
    side_by_side(f"{name} forward", out_numpy, out_torch.detach())
    side_by_side(f"{name} backward", dx_numpy, x_torch.grad, "grad")

# %% [markdown]
# The harness runs the same comparison on its own inputs, in both dtypes:

# %%
parity.run_twins("Relu", "Sigmoid")

# %% [markdown]
# ## 2. The Affine layer
#
# `Affine` computes `x @ W + b`; its backward gives `dx = dout @ W.T`, `dW = x.T @ dout` and `db = dout` summed
# over the batch. Its torch twin is `nn.Linear`, which stores its weight transposed, `(out, in)`.

# %%
W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)
x, dout = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))

affine = layers.Affine(W, b)
out_numpy = affine.forward(x)
dx_numpy = affine.backward(dout)

linear = nn.Linear(6, 3, dtype=torch.float64)
with torch.no_grad():
    linear.weight.copy_(torch.tensor(W.T))
    linear.bias.copy_(torch.tensor(b))
x_torch = torch.tensor(x, requires_grad=True)
out_torch = linear(x_torch)
out_torch.backward(torch.tensor(dout))

side_by_side("out", out_numpy, out_torch.detach())
side_by_side("dx", dx_numpy, x_torch.grad, "grad")
side_by_side("dW", affine.dW, linear.weight.grad.T, "grad")
side_by_side("db", affine.db, linear.bias.grad, "grad")

# %%
parity.run_twins("Affine", "Affine[N-D input]")

# %% [markdown]
# ## 3. Softmax with the cross-entropy loss
#
# Put together, softmax and the cross entropy have the simplest of backwards: `(y - t) / N`. PyTorch fuses the
# two as `nn.CrossEntropyLoss`, which takes the scores before softmax. The book adds `1e-7` inside the log (see
# chapter 4); the twins marked `book` compare through the exact relation, the others switch it off
# (`SoftmaxWithLoss(log_eps=0)`).

# %%
scores, labels = rng.standard_normal((4, 10)), rng.integers(0, 10, 4)
loss_layer = layers.SoftmaxWithLoss(log_eps=0.0)
loss_numpy = loss_layer.forward(scores, labels)
dscores_numpy = loss_layer.backward()

scores_torch = torch.tensor(scores, requires_grad=True)
loss_torch = nn.functional.cross_entropy(scores_torch, torch.tensor(labels))
loss_torch.backward()
side_by_side("loss", loss_numpy, loss_torch.detach())
side_by_side("dscores", dscores_numpy, scores_torch.grad, "grad")

# %%
parity.run_twins("SoftmaxWithLoss*", summary=True)

# %% [markdown]
# ## 4. Gradient check
#
# Backpropagation is fast but easy to get wrong; central differences are slow but hard to get wrong. The book
# checks one with the other on `TwoLayerNet` (784-50-10, ReLU): the mean absolute difference per parameter
# should be tiny. A third opinion comes from torch's autograd on the twin network, given the same weights.

# %%
from numpy_impl.networks import TwoLayerNet
from parity.convert import book_gradients, match_torch_semantics, numpy_to_torch
from torch_impl import networks as torch_networks

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
numpy_net = TwoLayerNet(784, 50 if FULL_RUN else 10, 10, rng=np.random.default_rng(0))
x_batch, t_batch = x_train[:3], t_train[:3]

numerical = numpy_net.numerical_gradient(x_batch, t_batch)
backprop = numpy_net.gradient(x_batch, t_batch)
for key in numerical:
    print(f"{key}: mean |backprop - numerical| = {np.mean(np.abs(backprop[key] - numerical[key])):.2e}")

torch_net = numpy_to_torch(numpy_net, torch_networks.TwoLayerNet(784, numpy_net.params["W1"].shape[1], 10,
                                                                 dtype=torch.float64))
torch_net.loss(torch.tensor(x_batch, dtype=torch.float64), torch.tensor(t_batch)).backward()
autograd = book_gradients(torch_net)
for key in backprop:
    side_by_side(f"{key}: backprop vs autograd", backprop[key], autograd[key], "grad")

# %% [markdown]
# ## 5. Training with backpropagation
#
# The book's `train_neuralnet`: TwoLayerNet, mini-batches of 100, SGD with learning rate 0.1. Here both sides
# train through their `Trainer` from the same weights and the same batches (the same `seed` draws the same batch
# order on both), the NumPy side switched to PyTorch's loss (`match_torch_semantics`: no `1e-7`) so that the
# curves compare exactly.

# %%
from numpy_impl.trainer import Trainer as NumpyTrainer
from torch_impl.trainer import Trainer as TorchTrainer

train_size = len(x_train) if FULL_RUN else 6000
epochs = 17 if FULL_RUN else 3
data = (x_train[:train_size], t_train[:train_size], x_test, t_test)
numpy_net = match_torch_semantics(TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0)))
torch_net = numpy_to_torch(numpy_net, torch_networks.TwoLayerNet(784, 50, 10, dtype=torch.float64))
settings = dict(epochs=epochs, mini_batch_size=100, optimizer="SGD", optimizer_param={"lr": 0.1}, seed=0,
                verbose=False)
numpy_trainer = NumpyTrainer(numpy_net, *data, **settings)
torch_trainer = TorchTrainer(torch_net, *data, device="cpu", **settings)
numpy_trainer.train()
torch_trainer.train()

fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
loss_ax.plot(numpy_trainer.train_loss_list, "-", label="NumPy")
loss_ax.plot(torch_trainer.train_loss_list, "--", label="torch")
loss_ax.set(xlabel="iteration", ylabel="training loss", title="TwoLayerNet, SGD lr 0.1")
for trainer, style, backend in ((numpy_trainer, "-", "NumPy"), (torch_trainer, "--", "torch")):
    acc_ax.plot(trainer.train_acc_list, style + "o", label=f"train ({backend})")
    acc_ax.plot(trainer.test_acc_list, style + "s", label=f"test ({backend})")
acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch")
for ax in (loss_ax, acc_ax):
    ax.legend()
plt.show()
side_by_side("loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list, "trajectory")

# %% [markdown]
# The harness's trajectory twin does the same in both dtypes, comparing the final weights too:

# %%
parity.run_twins("TwoLayerNet[trajectory,SGD]", summary=True)

# %% [markdown]
# ## Exercise: your own Affine
#
# Write the Affine layer: `__init__(self, W, b)`, `forward(x)` and `backward(dout)` keeping `self.dW` and
# `self.db`. The harness's twins feed it 2-D input and 4-D images (flatten them per sample, and give `dx` the
# input's shape back). A common slip first: averaging the bias gradient over the batch instead of summing it.
# The check fails and names the worst element:

# %%
class AffineWithAMeanBias:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x_shape = x.shape
        self.x = x.reshape(len(x), -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = np.mean(dout, axis=0)  # the slip: the loss sums over the batch's rows, so must its gradient
        return (dout @ self.W.T).reshape(self.x_shape)


parity.check(AffineWithAMeanBias, "Affine", dtypes=("float64",))

# %% [markdown]
# Your turn: fix `backward` (the solution is below) and run the check in both dtypes.

# %%
class MyAffine(AffineWithAMeanBias):
    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return (dout @ self.W.T).reshape(self.x_shape)


assert parity.check(MyAffine, "Affine")
