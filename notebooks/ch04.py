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
# # Chapter 4: learning from data
#
# Each section computes one idea twice: by hand in NumPy (`numpy_impl`, the book's code), then with PyTorch
# (`torch_impl`, or `torch` itself where the framework has it built in), and measures how far apart the two
# are with the parity harness (`parity`). The settings are quick (seconds); set `FULL_RUN = True` in the next
# cell for the book's own settings.

# %%
FULL_RUN = False

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import parity
from numpy_impl import functions, gradient
from numpy_impl.datasets import load_mnist
from parity.records import compare

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3.6)})

# %% [markdown]
# ## 1. Loss functions
#
# The book's example: a network gives probability 0.6 to class 2, and the label is 2. The sum of squared
# errors and the cross entropy, in NumPy and in torch:

# %%
y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
t = np.zeros(10)
t[2] = 1

squares_numpy = functions.mean_squared_error(y, t)
cross_entropy_numpy = functions.cross_entropy_error(y, t)

y_torch = torch.tensor(y)
squares_torch = 0.5 * F.mse_loss(y_torch, torch.tensor(t), reduction="sum")
cross_entropy_torch = F.nll_loss(torch.log(y_torch)[None], torch.tensor([2]))

print(f"0.5 * sum of squares: NumPy {squares_numpy:.12f}   torch {float(squares_torch):.12f}")
print(f"cross entropy:        NumPy {cross_entropy_numpy:.12f}   torch {float(cross_entropy_torch):.12f}")

# %% [markdown]
# The cross entropies differ in the seventh digit, on purpose: the book adds `1e-7` inside the log so that a
# probability of 0 gives a large loss instead of infinity; PyTorch adds nothing (its `F.cross_entropy` takes
# scores, not probabilities, and never computes log 0). The exact relation, from the design table
# (`docs/design.md`), is `book = torch - log(1 + 1e-7 / y_label)`. Applied, the two agree to rounding:

# %%
book_from_torch = cross_entropy_torch - torch.log1p(1e-7 / y_torch[2])
print(compare("cross entropy", "loss", "forward", cross_entropy_numpy, book_from_torch, "float64", "cpu").describe())

# %% [markdown]
# ## 2. Numerical differentiation
#
# The book differentiates by central differences, `(f(x + h) - f(x - h)) / 2h`; PyTorch records the
# operations and applies the chain rule (autograd). For `f(x) = 0.01x² + 0.1x` the derivative is 0.2 at 5
# and 0.3 at 10. A central difference is exact on a quadratic, so what is left is rounding:

# %%
def function_1(x):
    return 0.01 * x ** 2 + 0.1 * x


x_points = torch.tensor([5.0, 10.0], dtype=torch.float64, requires_grad=True)
function_1(x_points).sum().backward()
for point, autograd_slope in zip((5.0, 10.0), x_points.grad.tolist()):
    numerical_slope = gradient.numerical_diff(function_1, point)
    print(f"at {point:4}: numerical {numerical_slope:.15f}   autograd {autograd_slope:.15f}")

x = np.arange(0.0, 20.0, 0.1)
fig, ax = plt.subplots()
ax.plot(x, function_1(x), "k", label="f(x) = 0.01x² + 0.1x")
for point, slope in zip((5.0, 10.0), x_points.grad.tolist()):
    ax.plot(x, slope * (x - point) + function_1(point), "--", label=f"tangent at x = {point:g} (autograd)")
ax.set(xlabel="x", ylabel="f(x)", title="derivatives as tangent lines")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Gradients
#
# The gradient of `f(x0, x1) = x0² + x1²` at (3, 4) is (6, 8). `numerical_gradient` nudges one coordinate at a
# time; autograd gives the whole gradient from one backward pass.

# %%
def function_2(x):
    return x[0] ** 2 + x[1] ** 2


for point in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    numerical = gradient.numerical_gradient(function_2, np.array(point))
    x_torch = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    function_2(x_torch).backward()
    record = compare("gradient", f"at {point}", "central difference", numerical, x_torch.grad, "float64", "cpu")
    print(f"{point}: numerical {numerical}, autograd {x_torch.grad.numpy()}; {record.describe()}")

# %% [markdown]
# Drawn over a grid, the negative gradient points to the minimum, and grows with the distance to it:

# %%
x0, x1 = np.meshgrid(np.arange(-2, 2.5, 0.25), np.arange(-2, 2.5, 0.25))
grid = np.stack([x0.ravel(), x1.ravel()])
field = np.array([gradient.numerical_gradient(function_2, point.copy()) for point in grid.T]).T
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.quiver(grid[0], grid[1], -field[0], -field[1], angles="xy", color="C0")
ax.set(xlabel="x0", ylabel="x1", title="-∇f for f = x0² + x1² (NumPy)", xlim=(-2, 2), ylim=(-2, 2))
plt.show()

# %% [markdown]
# ## 4. Gradient descent
#
# `gradient_descent` repeats `x -= lr * grad`; in PyTorch that is `torch.optim.SGD` on a tensor that requires
# a gradient. From (-3, 4), 100 steps of learning rate 0.1 reach the minimum; the two paths agree to the
# rounding of the central differences.

# %%
start, lr, steps = np.array([-3.0, 4.0]), 0.1, 100
final_numpy, path_numpy = gradient.gradient_descent(function_2, start, lr=lr, step_num=steps, return_history=True)

x_torch = torch.tensor(start, requires_grad=True)
optimizer = torch.optim.SGD([x_torch], lr=lr)
path_torch = []
for _ in range(steps):
    path_torch.append(x_torch.detach().clone().numpy())
    optimizer.zero_grad()
    function_2(x_torch).backward()
    optimizer.step()
path_torch = np.array(path_torch)

print(compare("gradient descent", "path", "central difference", path_numpy, path_torch, "float64", "cpu").describe())
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot(path_numpy[:, 0], path_numpy[:, 1], "o", markersize=5, label="NumPy: numerical gradients")
ax.plot(path_torch[:, 0], path_torch[:, 1], "x", markersize=5, label="torch: autograd + optim.SGD")
ax.set(xlabel="x0", ylabel="x1", title="gradient descent from (-3, 4), lr 0.1", xlim=(-3.5, 3.5), ylim=(-4.5, 4.5))
ax.legend()
plt.show()

# %% [markdown]
# A learning rate too large runs away (lr 10), one too small barely moves (lr 1e-10):

# %%
for lr in (10.0, 1e-10):
    final = gradient.gradient_descent(function_2, start, lr=lr, step_num=steps)
    print(f"lr {lr:g}: after {steps} steps x = {final}, {np.linalg.norm(final):.3g} from the minimum")

# %% [markdown]
# ## 5. The gradient of a whole network
#
# Chapter 4's two-layer network (sigmoid hidden units, softmax output) is `SigmoidTwoLayerNet`; its
# `numerical_gradient` differentiates the loss with respect to every weight, one weight at a time: two forward
# passes per weight. Its torch twin is `torch_impl`'s `MultiLayerNet` with one sigmoid hidden layer, given the
# same weights; autograd gives all its gradients in one backward pass. The NumPy network is switched to
# PyTorch's loss (no `1e-7`, section 1) so that both differentiate the same function.

# %%
from numpy_impl.networks import SigmoidTwoLayerNet
from parity.convert import book_arrays, book_gradients, copy_book_arrays
from torch_impl.networks import MultiLayerNet

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
hidden = 50 if FULL_RUN else 10
numpy_net = SigmoidTwoLayerNet(784, hidden, 10, rng=np.random.default_rng(0))
torch_net = MultiLayerNet(784, [hidden], 10, activation="sigmoid", dtype=torch.float64)
copy_book_arrays(numpy_net.params, torch_net)

x_batch, t_batch = x_train[:3], t_train[:3]


def loss_without_eps(_):
    return functions.cross_entropy_error(numpy_net.predict(x_batch), t_batch, eps=0.0)


numerical = {key: gradient.numerical_gradient(loss_without_eps, value) for key, value in numpy_net.params.items()}
torch_net.loss(torch.tensor(x_batch, dtype=torch.float64), torch.tensor(t_batch)).backward()
autograd = book_gradients(torch_net)
for key in numerical:
    print(compare("SigmoidTwoLayerNet", f"grad:{key}", "network numerical gradient", numerical[key], autograd[key],
                  "float64", "cpu").describe())

# %% [markdown]
# ## 6. Training
#
# The book trains this network with mini-batches of 100 and learning rate 0.1. Numerical gradients are far too
# slow for that (the book's script takes hours), so, as the book's chapter 5 does, both sides below use the
# chain rule: `SigmoidTwoLayerNet.gradient` works it out by hand, torch by autograd. Same initial weights, same
# batches, plain SGD:

# %%
iterations = 10000 if FULL_RUN else 300
train_size = len(x_train) if FULL_RUN else 10000
numpy_net = SigmoidTwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
torch_net = copy_book_arrays(numpy_net.params, MultiLayerNet(784, [50], 10, activation="sigmoid",
                                                             dtype=torch.float64))
optimizer = torch.optim.SGD(torch_net.parameters(), lr=0.1)
x_train_torch, t_train_torch = torch.tensor(x_train, dtype=torch.float64), torch.tensor(t_train)
batches = np.random.default_rng(1).integers(0, train_size, size=(iterations, 100))
losses = {"NumPy": [], "torch": []}
for batch in batches:
    grads = numpy_net.gradient(x_train[batch], t_train[batch])
    for key in numpy_net.params:
        numpy_net.params[key] -= 0.1 * grads[key]
    losses["NumPy"].append(numpy_net.loss(x_train[batch], t_train[batch]))

    optimizer.zero_grad()
    torch_net.loss(x_train_torch[batch], t_train_torch[batch]).backward()
    optimizer.step()
    with torch.no_grad():
        losses["torch"].append(float(torch_net.loss(x_train_torch[batch], t_train_torch[batch])))

print(f"test accuracy: NumPy {numpy_net.accuracy(x_test, t_test):.4f}, "
      f"torch {torch_net.accuracy(torch.tensor(x_test, dtype=torch.float64), torch.tensor(t_test)):.4f}")
fig, ax = plt.subplots()
ax.plot(losses["NumPy"], "-", label="NumPy (book's loss, 1e-7 in the log)")
ax.plot(losses["torch"], "--", label="torch")
ax.set(xlabel="iteration", ylabel="training loss (cross entropy)", title="SigmoidTwoLayerNet, SGD lr 0.1")
ax.legend()
plt.show()

# %% [markdown]
# The curves lie on one another: after the same updates the two networks hold the same weights, up to the
# rounding of float64 arithmetic.

# %%
print(compare("SigmoidTwoLayerNet", "W1 after training", "trajectory", numpy_net.params["W1"],
              book_arrays(torch_net)["W1"], "float64", "cpu").describe())

# %% [markdown]
# ## Exercise: your own softmax
#
# Write `softmax(x)` for a batch of scores `x` of shape (N, C), then let the harness compare it with
# `torch.softmax` on the inputs the project's own twins use. `parity.check` prints every check and, for a
# failure, the worst element. Below, first the version straight from the formula: the twin with large scores
# makes `exp` overflow.

# %%
def naive_softmax(x):
    exp_x = np.exp(x)
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


with np.errstate(over="ignore", invalid="ignore"):
    parity.check(naive_softmax, "softmax")

# %% [markdown]
# Subtracting each row's largest score first changes nothing mathematically (the factor `exp(-max)` cancels)
# and keeps every `exp` at most 1. Try it before reading the solution:

# %%
def my_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    exp_x = np.exp(shifted)
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


assert parity.check(my_softmax, "softmax")
