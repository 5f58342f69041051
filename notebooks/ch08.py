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
# # Chapter 8: deep learning
#
# The book's `DeepConvNet`: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters) with ReLU, a 2x2 max pooling
# after every second one, then Affine (50), ReLU, dropout, Affine (10), dropout; He initialisation and Adam.
# The NumPy network writes every layer out; the torch twin is an `nn.Sequential` of stock modules. Here they
# are compared, trained together for a few steps, and then the torch one, much faster on a CPU and able to run
# on a GPU, trains alone. Quick settings by default; `FULL_RUN = True` trains for 10 epochs on all 60,000 images
# (an hour on a CPU; a few minutes on a GPU with `device = "cuda"`).

# %%
FULL_RUN = False
device = "cpu"

import matplotlib.pyplot as plt
import numpy as np
import torch

import parity
from numpy_impl.datasets import load_mnist
from numpy_impl.networks import DeepConvNet as NumpyDeepConvNet
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.convert import match_torch_semantics, numpy_to_torch
from parity.masks import record_masks, replay_masks
from parity.records import compare
from torch_impl.networks import DeepConvNet as TorchDeepConvNet
from torch_impl.trainer import Trainer as TorchTrainer

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3.6)})
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


def agreement(name, numpy_value, torch_value, kind="forward", dtype="float64"):
    print(compare("notebook", name, kind, numpy_value, torch_value, dtype, "cpu").describe())


# %% [markdown]
# ## 1. The two networks
#
# The same layers in the same order, and the same parameters (the torch side keeps an `nn.Linear` weight
# transposed):

# %%
numpy_net = match_torch_semantics(NumpyDeepConvNet(rng=np.random.default_rng(0)))
torch_net = numpy_to_torch(numpy_net, TorchDeepConvNet(dtype=torch.float64))
print("NumPy layers:", ", ".join(numpy_net.layers))
print(torch_net.layers)
numpy_count = sum(value.size for value in numpy_net.params.values())
torch_count = sum(parameter.numel() for parameter in torch_net.parameters())
print(f"parameters: NumPy {numpy_count:,}, torch {torch_count:,}")

# %% [markdown]
# In evaluation mode (dropout off) the scores agree to float64 rounding. In training mode each side would draw
# its own dropout masks; the torch side's masks can be recorded and replayed on the NumPy side, and then the
# training-mode scores agree too.

# %%
images = x_test[:50]
agreement("scores, evaluation mode", numpy_net.predict(images),
          torch_net.eval()(torch.tensor(images, dtype=torch.float64)))

torch.manual_seed(0)
masks, stop_recording = record_masks(torch_net)
scores_torch = torch_net.train()(torch.tensor(images, dtype=torch.float64))
stop_recording()
replay_masks(numpy_net, masks)
agreement("scores, training mode (torch's masks)", numpy_net.predict(images, train_flg=True), scores_torch)

# %%
parity.run_twins("DeepConvNet", "DeepConvNet[no dropout]", summary=True)

# %% [markdown]
# ## 2. A few steps together
#
# Both sides train from the same weights on the same batches with the same masks, in float64, with Adam at the
# book's learning rate: their losses stay together step by step.

# %%
numpy_net = match_torch_semantics(NumpyDeepConvNet(rng=np.random.default_rng(1)))
torch_net = numpy_to_torch(numpy_net, TorchDeepConvNet(dtype=torch.float64))
steps = 20 if FULL_RUN else 4
data = (x_train[:100 * steps], t_train[:100 * steps], x_test[:100], t_test[:100])
settings = dict(epochs=1, mini_batch_size=100, optimizer="Adam", optimizer_param={"lr": 0.001}, seed=0,
                verbose=False)
torch.manual_seed(1)
masks, stop_recording = record_masks(torch_net)
torch_trainer = TorchTrainer(torch_net, *data, device="cpu", **settings)
torch_trainer.train()
stop_recording()
replay_masks(numpy_net, masks)
numpy_trainer = NumpyTrainer(numpy_net, *data, **settings)
numpy_trainer.train()
for step, (numpy_loss, torch_loss) in enumerate(zip(numpy_trainer.train_loss_list, torch_trainer.train_loss_list)):
    print(f"step {step + 1}: loss NumPy {numpy_loss:.12f}   torch {torch_loss:.12f}")
agreement("loss curve", numpy_trainer.train_loss_list, torch_trainer.train_loss_list, "trajectory")

# %% [markdown]
# ## 3. Training on torch
#
# Now the torch network alone, in float32, on `device` (set it to `"cuda"` in the first cell on a machine with a
# GPU). The Trainer takes the NumPy Trainer's arguments; the book evaluates the first 1000 training images after
# each epoch.

# %%
train_size, test_size, epochs = (len(x_train), len(x_test), 10) if FULL_RUN else (2000, 2000, 1)
x_test, t_test = x_test[:test_size], t_test[:test_size]
torch.manual_seed(0)
network = TorchDeepConvNet(device=device)
trainer = TorchTrainer(network, x_train[:train_size], t_train[:train_size], x_test, t_test, epochs=epochs,
                       mini_batch_size=100, optimizer="Adam", optimizer_param={"lr": 0.001},
                       evaluate_sample_num_per_epoch=1000, seed=0, verbose=False, device=device)
test_accuracy = trainer.train()
print(f"test accuracy on {len(x_test):,} test images: {test_accuracy:.4f}")

fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
loss_ax.plot(trainer.train_loss_list)
loss_ax.set(xlabel="iteration", ylabel="training loss", title="DeepConvNet (torch), Adam lr 0.001")
acc_ax.plot(trainer.train_acc_list, "o-", label="training (first 1000 images)")
acc_ax.plot(trainer.test_acc_list, "s--", label="test (first 1000 images)")
acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy after each epoch")
acc_ax.legend()
plt.show()

# %% [markdown]
# The test images it gets wrong, with what it predicted and what they are:

# %%
network.eval()
with torch.no_grad():
    predicted = torch.cat([network(trainer.x_test[i:i + 500]).argmax(dim=1)
                           for i in range(0, len(x_test), 500)]).cpu().numpy()
wrong = np.flatnonzero(predicted != t_test)
fig, axes = plt.subplots(3, 6, figsize=(9, 6.6))
for ax, index in zip(axes.flat, wrong):
    ax.imshow(x_test[index, 0], cmap="gray_r")
    ax.set_title(f"{FASHION_CLASSES[predicted[index]]}\n(is {FASHION_CLASSES[t_test[index]]})", fontsize=9,
                 color="red")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"{len(wrong)} of {len(t_test):,} test images misclassified; the first 18: prediction (truth)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise: your own leaky ReLU
#
# Deeper networks sometimes swap ReLU for a leaky ReLU, which lets a small gradient through for negative inputs:
# `x` for `x > 0`, `alpha * x` otherwise. Write it as a book layer, `LeakyRelu(alpha=0.01)` with `forward` and
# `backward`, and check it against `nn.LeakyReLU`. A solution:

# %%
class MyLeakyRelu:
    def __init__(self, alpha=0.01):
        self.alpha = alpha

    def forward(self, x):
        self.slope = np.where(x > 0, 1.0, self.alpha).astype(x.dtype)
        return x * self.slope

    def backward(self, dout):
        return dout * self.slope


assert parity.check(MyLeakyRelu, "LeakyRelu")

# %% [markdown]
# ## Exercise: what dropout costs and gives
#
# `DeepConvNet` drops half of its 50 hidden units (and half of its scores) in training. Train it with and without
# dropout (`dropout_ratio=0.0`, on both sides) and compare the gap between training and test accuracy. In the
# quick run neither has trained long enough to overfit; with `FULL_RUN`, does dropout still help?

# %%
for dropout_ratio in (0.5, 0.0):
    torch.manual_seed(0)
    network = TorchDeepConvNet(dropout_ratio=dropout_ratio, device=device)
    trainer = TorchTrainer(network, x_train[:train_size], t_train[:train_size], x_test, t_test, epochs=epochs,
                           mini_batch_size=100, optimizer="Adam", optimizer_param={"lr": 0.001},
                           evaluate_sample_num_per_epoch=1000, seed=0, verbose=False, device=device)
    test_accuracy = trainer.train()
    train_accuracy = network.accuracy(trainer.x_train[:1000], trainer.t_train[:1000])
    print(f"dropout {dropout_ratio}: training accuracy {train_accuracy:.3f} (first 1000 images), "
          f"test {test_accuracy:.3f}")
