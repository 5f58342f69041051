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
# # Chapter 7: convolutional networks
#
# A convolution slides each filter over the image; the book turns that into one matrix product by copying
# every window the filter visits into a column (`im2col`), and turns the product's gradient back into an image
# by adding the columns where they came from (`col2im`). PyTorch has the same pair as `F.unfold` and `F.fold`,
# and convolution and pooling as `nn.Conv2d` and `nn.MaxPool2d`. Each section runs the NumPy layer beside its
# torch twin, then the parity harness's checks. Quick settings by default; `FULL_RUN = True` trains as long as
# the book.

# %%
FULL_RUN = False

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import parity
from numpy_impl import layers
from numpy_impl.datasets import load_mnist
from numpy_impl.util import fold, im2col, unfold
from parity.records import compare

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3.6)})
rng = np.random.default_rng(0)


def agreement(name, numpy_value, torch_value, kind="forward"):
    print(compare("notebook", name, kind, numpy_value, torch_value, "float64", "cpu").describe())


# %% [markdown]
# ## 1. Windows as columns
#
# One image of 3 channels, 7x7, and a 5x5 filter: the filter fits in 3x3 = 9 positions, each covering
# 3 * 5 * 5 = 75 numbers. The book's `im2col` gives one row per window, (9, 75); `unfold` (torch's layout) one
# column per window, (1, 75, 9): the same numbers, transposed.

# %%
x = rng.standard_normal((1, 3, 7, 7))
print("im2col:", im2col(x, 5, 5).shape, "  unfold:", unfold(x, 5, 5).shape,
      "  F.unfold:", tuple(F.unfold(torch.tensor(x), 5).shape))
agreement("unfold vs F.unfold", unfold(x, 5, 5), F.unfold(torch.tensor(x), 5))
agreement("im2col vs unfold transposed", im2col(x, 5, 5), unfold(x, 5, 5)[0].T)

# %% [markdown]
# `fold` is unfold's adjoint: it adds each column back onto the window it came from, so a pixel that `n`
# windows cover receives `n` contributions. Folding columns of ones counts the windows over each pixel:

# %%
coverage = fold(np.ones((1, 75, 9)), (1, 3, 7, 7), 5, 5)
print(coverage[0, 0].astype(int))
agreement("fold vs F.fold", coverage, F.fold(torch.ones(1, 75, 9, dtype=torch.float64), (7, 7), 5))

# %%
parity.run_twins("unfold*", "fold*", summary=True)

# %% [markdown]
# ## 2. The convolution layer
#
# `Convolution(W, b, stride, pad)` with W of shape (filters, channels, height, width), like `nn.Conv2d`'s weight.
# Forward is one product of the reshaped filters with the unfolded input; backward gives `dW` from the product
# of the output's gradient with the same columns, and `dx` by folding the filters' product with it.

# %%
W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
x, stride, pad = rng.standard_normal((2, 3, 7, 7)), 2, 1
convolution = layers.Convolution(W, b, stride, pad)
out_numpy = convolution.forward(x)
dout = rng.standard_normal(out_numpy.shape)
dx_numpy = convolution.backward(dout)

conv2d = nn.Conv2d(3, 4, 3, stride=stride, padding=pad, dtype=torch.float64)
with torch.no_grad():
    conv2d.weight.copy_(torch.tensor(W))
    conv2d.bias.copy_(torch.tensor(b))
x_torch = torch.tensor(x, requires_grad=True)
out_torch = conv2d(x_torch)
out_torch.backward(torch.tensor(dout))
print("output shape:", out_numpy.shape)
agreement("out", out_numpy, out_torch.detach())
agreement("dx", dx_numpy, x_torch.grad, "grad")
agreement("dW", convolution.dW, conv2d.weight.grad, "grad")
agreement("db", convolution.db, conv2d.bias.grad, "grad")

# %%
parity.run_twins("Convolution[*", summary=True)

# %% [markdown]
# ## 3. Pooling
#
# Max pooling keeps the largest value of each window; backward routes the gradient to the position that held
# it (to the first one, when several tie, as both sides do). The book pads with 0, which can win over negative
# inputs; `numpy_impl` pads with -inf as `nn.MaxPool2d` does (the design table, `docs/design.md`).

# %%
x = rng.standard_normal((2, 3, 6, 6))
pooling = layers.Pooling(2, 2, stride=2)
out_numpy = pooling.forward(x)
dout = rng.standard_normal(out_numpy.shape)
dx_numpy = pooling.backward(dout)

x_torch = torch.tensor(x, requires_grad=True)
out_torch = nn.MaxPool2d(2, stride=2)(x_torch)
out_torch.backward(torch.tensor(dout))
agreement("out", out_numpy, out_torch.detach())
agreement("dx", dx_numpy, x_torch.grad, "grad")
print("one channel before pooling:\n", np.round(x[0, 0], 2), "\nafter:\n", np.round(out_numpy[0, 0], 2))

# %%
parity.run_twins("Pooling[max*", "Pooling[avg*", summary=True)

# %% [markdown]
# ## 4. SimpleConvNet
#
# The book's network: convolution (30 filters of 5x5), ReLU, 2x2 max pooling, Affine (100), ReLU, Affine (10).
# The torch twin is an `nn.Sequential` of the stock modules. Given the NumPy network's weights they compute the
# same scores, and trained with Adam from the same batches they stay together.

# %%
from numpy_impl.networks import SimpleConvNet as NumpySimpleConvNet
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.convert import book_arrays, match_torch_semantics, numpy_to_torch
from torch_impl.networks import SimpleConvNet as TorchSimpleConvNet
from torch_impl.trainer import Trainer as TorchTrainer

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
numpy_net = match_torch_semantics(NumpySimpleConvNet(rng=np.random.default_rng(0)))
torch_net = numpy_to_torch(numpy_net, TorchSimpleConvNet(dtype=torch.float64))
print(torch_net.layers)
agreement("scores", numpy_net.predict(x_test[:100]), torch_net(torch.tensor(x_test[:100], dtype=torch.float64)))
initial_filters = numpy_net.params["W1"].copy()

# %%
train_size, epochs = (len(x_train), 20) if FULL_RUN else (3000, 1)
data = (x_train[:train_size], t_train[:train_size], x_test[:1000], t_test[:1000])
settings = dict(epochs=epochs, mini_batch_size=100, optimizer="Adam", optimizer_param={"lr": 0.001}, seed=0,
                evaluate_sample_num_per_epoch=1000, verbose=False)
numpy_trainer = NumpyTrainer(numpy_net, *data, **settings)
torch_trainer = TorchTrainer(torch_net, *data, device="cpu", **settings)
numpy_trainer.train()
torch_trainer.train()
agreement("loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list, "trajectory")
agreement("trained filters", numpy_net.params["W1"], book_arrays(torch_net)["W1"], "trajectory")
print(f"test accuracy (1000 images): NumPy {numpy_net.accuracy(x_test[:1000], t_test[:1000]):.3f}, "
      f"torch {torch_net.accuracy(torch.tensor(x_test[:1000], dtype=torch.float64), torch.tensor(t_test[:1000])):.3f}")

fig, ax = plt.subplots()
ax.plot(numpy_trainer.train_loss_list, "-", label="NumPy")
ax.plot(torch_trainer.train_loss_list, "--", label="torch")
ax.set(xlabel="iteration", ylabel="training loss", title="SimpleConvNet, Adam lr 0.001")
ax.legend()
plt.show()

# %% [markdown]
# The first layer's 30 filters before and after training (from the NumPy network; the torch one holds the same).
# Trained filters respond to edges and blobs; in the quick run they have only begun to change.

# %%
def filter_mosaic(filters, per_row=10):
    """The 5x5 filters in rows of `per_row`, one blank pixel around each."""
    framed = [np.pad(f[0], 1, constant_values=np.nan) for f in filters]
    return np.block([framed[i:i + per_row] for i in range(0, len(framed), per_row)])


fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, filters, title in ((axes[0], initial_filters, "W1 before training"),
                           (axes[1], numpy_net.params["W1"], "W1 after training")):
    ax.imshow(filter_mosaic(filters), cmap="gray_r")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
parity.run_twins("SimpleConvNet", "SimpleConvNet[trajectory,Adam]", summary=True)

# %% [markdown]
# ## Exercise: your own convolution and pooling
#
# Write `Convolution(W, b, stride=1, pad=0)` with `forward(x)` and `backward(dout)` keeping `dW` and `db`,
# built on `numpy_impl.util.unfold` and `fold`; the harness runs it on filters of several sizes, strides and
# pads against `nn.Conv2d`. A solution:

# %%
class MyConvolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        filters, _, height, width = self.W.shape
        self.x_shape = x.shape
        self.columns = unfold(x, height, width, self.stride, self.pad)  # (N, C*FH*FW, windows)
        out = self.W.reshape(filters, -1) @ self.columns + self.b[:, None]  # (N, FN, windows)
        out_h = (x.shape[2] + 2 * self.pad - height) // self.stride + 1
        return out.reshape(len(x), filters, out_h, -1)

    def backward(self, dout):
        filters, _, height, width = self.W.shape
        dout = dout.reshape(len(dout), filters, -1)
        self.db = dout.sum(axis=(0, 2))
        self.dW = np.einsum("nfw,nkw->fk", dout, self.columns).reshape(self.W.shape)
        dcolumns = self.W.reshape(filters, -1).T @ dout
        return fold(dcolumns, self.x_shape, height, width, self.stride, self.pad)


assert parity.check(MyConvolution, "Convolution")

# %% [markdown]
# And max pooling, `Pooling(pool_h, pool_w, stride=2, pad=0)`: `only=` restricts the check to the max-pooling
# twins (the library's `Pooling` also averages). Pad with -inf, not 0: one twin pads an input whose values are
# negative, where a padded 0 would win.

# %%
class MyPooling:
    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        p = self.pad
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
        self.x_shape, self.padded_shape = x.shape, padded.shape
        windows = unfold(padded, self.pool_h, self.pool_w, self.stride)
        windows = windows.reshape(x.shape[0], x.shape[1], self.pool_h * self.pool_w, -1)  # (N, C, window, where)
        self.argmax = np.argmax(windows, axis=2)  # the first maximum of each window
        out_h = (padded.shape[2] - self.pool_h) // self.stride + 1
        return np.max(windows, axis=2).reshape(x.shape[0], x.shape[1], out_h, -1)

    def backward(self, dout):
        n, c = dout.shape[:2]
        dwindows = np.zeros((n, c, self.pool_h * self.pool_w, self.argmax.shape[-1]))
        np.put_along_axis(dwindows, self.argmax[:, :, None], dout.reshape(n, c, 1, -1), axis=2)
        dpadded = fold(dwindows.reshape(n, -1, dwindows.shape[-1]), self.padded_shape, self.pool_h, self.pool_w,
                       self.stride)
        p, (height, width) = self.pad, self.x_shape[2:]
        return dpadded[:, :, p:p + height, p:p + width]


assert parity.check(MyPooling, "Pooling", only="Pooling[max*")

# %% [markdown]
# ## Exercise: two convolution blocks
#
# Courses built on the book add a network between SimpleConvNet and DeepConvNet: two blocks of convolution,
# ReLU and pooling, then SimpleConvNet's affine layers. It is `DoubleConvNet` on both sides. Build the pair,
# compare their scores, train it as SimpleConvNet above and see whether the second block helps; then run its
# twins.

# %%
from numpy_impl.networks import DoubleConvNet as NumpyDoubleConvNet
from torch_impl.networks import DoubleConvNet as TorchDoubleConvNet

numpy_net = NumpyDoubleConvNet(rng=np.random.default_rng(0))
torch_net = numpy_to_torch(numpy_net, TorchDoubleConvNet(dtype=torch.float64))
print(torch_net.layers)
agreement("DoubleConvNet scores", numpy_net.predict(x_test[:100]),
          torch_net(torch.tensor(x_test[:100], dtype=torch.float64)))

# %%
parity.run_twins("DoubleConvNet*", summary=True)
