"""Twins of the book's networks: one step on a real batch, and whole training runs.

NetworkTwin: the same weights (moved by parity.convert) and the same batch of
real images; the torch side runs first and its dropout masks are handed to the
NumPy side. Checked: the training-mode softmax and loss, every parameter
gradient, the evaluation-mode scores and the batch-norm running statistics.

TrajectoryTwin: the NumPy Trainer against the torch Trainer from the same
weights with the same seed (hence the same batches), at least 50 steps; the
per-step losses, accuracies and final weights are compared.

Configurations: 'matched' switches the NumPy side to PyTorch's semantics (no
1e-7 inside the log, PyTorch's running variance) and must agree exactly; the
'book' configuration keeps the book's and must differ by docs/design.md's relations.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.convert import (
    book_gradients,
    match_torch_semantics,
    numpy_to_torch,
    torch_to_numpy,
)
from torch_impl.acceleration import Acceleration
from torch_impl.trainer import Trainer as TorchTrainer

from ..masks import record_masks, replay_masks
from ..records import compare, scales
from ..relations import book_loss, book_running_var, torch_running_var
from ..sources import TwinSources, doc_of, source_of
from ..tolerances import DTYPES
from ..twin import DEVICES
from .layers import TORCH_DTYPES

GOLDEN_BATCHES = Path(__file__).resolve().parents[2] / "golden" / "optimizers_mlp.npz"


def real_images(count, flatten, dtype):
    """`count` Fashion-MNIST images and labels from the golden fixtures, as the book feeds them."""
    if not GOLDEN_BATCHES.is_file():
        raise FileNotFoundError(f"the parity harness takes its real images from {GOLDEN_BATCHES}, which is missing")
    with np.load(GOLDEN_BATCHES, allow_pickle=False) as data:
        x = (data["x_uint8"][:count].astype(np.float64) / 255).astype(dtype)
        t = data["t"][:count]
    return (x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)), t


@dataclass
class NetworkSpec:
    """How to build a network on both sides with the same constructor arguments."""
    numpy_class: type
    torch_class: type
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    flatten: bool = True

    def numpy_network(self, dtype, seed, matched, initial_bias=None):
        """The NumPy network, weights drawn from `seed`; initial_bias, if given, replaces the biases'
        zeros (not batch norm's beta)."""
        numpy_net = self.numpy_class(*self.args, dtype=dtype, rng=np.random.default_rng(seed), **self.kwargs)
        if initial_bias is not None:
            for key in numpy_net.params:
                if re.fullmatch(r"b\d+", key):
                    numpy_net.params[key][...] = initial_bias
        return match_torch_semantics(numpy_net) if matched else numpy_net

    def build(self, dtype, device, seed, matched, initial_bias=None):
        """numpy_network(...) and its torch twin holding the same weights."""
        numpy_net = self.numpy_network(dtype, seed, matched, initial_bias)
        torch_net = self.torch_class(*self.args, dtype=TORCH_DTYPES[dtype], device=device, **self.kwargs)
        return numpy_net, numpy_to_torch(numpy_net, torch_net)


@dataclass
class NetworkTwin:
    name: str
    spec: NetworkSpec
    matched: bool = True
    batch_size: int = 32
    acceleration: Acceleration = Acceleration()
    dtypes: tuple = DTYPES
    devices: tuple = DEVICES

    def kind(self, check):
        """The tolerance kind of a check: its own, or its bf16 one when the torch side's training pass ran
        under bf16 autocast (which the eval-mode scores inherit through the batch-norm statistics)."""
        return f"bf16 {check}" if self.acceleration.bf16 else check

    def sources(self):
        relation = "" if self.matched else "\n\n".join(doc_of(f) for f in (book_loss, torch_running_var))
        return TwinSources(source_of(self.spec.numpy_class), source_of(self.spec.torch_class), relation)

    def run(self, dtype, device, seed=0):
        numpy_net, torch_net = self.spec.build(dtype, device, seed, self.matched)
        x, t = real_images(self.batch_size, self.spec.flatten, dtype)
        x_torch, t_torch = torch.as_tensor(x, device=device), torch.as_tensor(t, device=device)

        torch.manual_seed(seed)
        masks, stop_recording = record_masks(torch_net)
        torch_net.train()
        with self.acceleration.autocast(device):
            scores = torch_net(x_torch).to(TORCH_DTYPES[dtype])
        loss = F.cross_entropy(scores, t_torch) + torch_net.weight_decay_penalty()
        loss.backward()
        stop_recording()
        replay_masks(numpy_net, masks)
        numpy_grads = numpy_net.gradient(x, t)

        torch_loss = loss.detach() if self.matched else book_loss(loss.detach(), scores.detach(), t_torch)
        records = [
            compare(self.name, "forward:softmax[train]", self.kind("forward"), numpy_net.last_layer.y,
                    torch.softmax(scores.detach(), dim=1), dtype, device),
            compare(self.name, "forward:loss", self.kind("forward"),
                    numpy_net.last_layer.loss + numpy_net.weight_decay(), torch_loss, dtype, device),
        ]
        torch_grads = book_gradients(torch_net)
        for key, scale in scales(torch_grads).items():
            records.append(compare(self.name, f"grad:{key}", self.kind("grad"), numpy_grads[key], torch_grads[key],
                                   dtype, device, scale))

        torch_net.eval()
        with torch.no_grad():
            eval_scores = torch_net(x_torch)
        torch_state = torch_to_numpy(torch_net, self.spec.numpy_class(*self.spec.args, dtype=dtype, **self.spec.kwargs))
        numpy_state = numpy_net.buffers()
        for key, value in numpy_state.items():
            expected = torch_state.buffers()[key]
            if not self.matched and key.startswith("running_var"):
                expected = book_running_var(expected, self.batch_size, steps=1)
            records.append(compare(self.name, f"state:{key}", self.kind("state"), value, expected, dtype, device))
        if self.matched or not numpy_state:
            records.append(compare(self.name, "forward:scores[eval]", self.kind("forward"), numpy_net.predict(x, False),
                                   eval_scores, dtype, device))
        return records


# The relative size of the perturbation of the initial weights with which a low-precision trajectory
# measures its conditioning: 16 float32 units in the last place, so that an end point that moves by
# less than the trajectory tolerance leaves room for the float32 rounding entering at every step.
CONDITIONING_PERTURBATION = 1e-6


@dataclass
class TrajectoryTwin:
    """Both Trainers for `epochs` epochs of `train_size` images in mini-batches of `batch_size`.

    In a low-precision dtype (float32, and bf16 autocast) the twin also trains the NumPy side in
    float64 from the same weights with the same batches and dropout masks, the exact answer, and
    records each side's distance from it ('exact:numpy ...', 'exact:torch ...'), so that a failure
    says which side left it. It measures its conditioning too ('conditioning:...'): how far the
    float64 end point moves when every initial weight is multiplied by 1 + CONDITIONING_PERTURBATION
    times a normal draw. An ill-conditioned trajectory fails that check: comparing
    it in low precision would compare rounding noise. initial_bias, if given, replaces the
    zero biases the networks start from.
    """
    name: str
    spec: NetworkSpec
    optimizer: str
    optimizer_param: dict
    train_size: int = 256
    test_size: int = 64
    batch_size: int = 32
    epochs: int = 7
    dtypes: tuple = DTYPES
    acceleration: Acceleration = Acceleration()
    devices: tuple = DEVICES
    initial_bias: float = None

    @property
    def kind(self):
        """The tolerance kind of the checks: 'trajectory', or 'bf16 trajectory' under bf16 autocast."""
        return "bf16 trajectory" if self.acceleration.bf16 else "trajectory"

    def settings(self, seed):
        return dict(epochs=self.epochs, mini_batch_size=self.batch_size, optimizer=self.optimizer,
                    optimizer_param=self.optimizer_param, verbose=False, seed=seed)

    def data(self, dtype):
        x, t = real_images(self.train_size + self.test_size, self.spec.flatten, dtype)
        return x[:self.train_size], t[:self.train_size], x[self.train_size:], t[self.train_size:]

    def sources(self):
        return TwinSources(f"{self.optimizer}({self.optimizer_param}) through numpy_impl.trainer.Trainer\n\n"
                           + source_of(self.spec.numpy_class),
                           f"{self.optimizer}({self.optimizer_param}) through torch_impl.trainer.Trainer"
                           + (f" with {self.acceleration}" if self.acceleration != Acceleration() else "")
                           + "\n\n" + source_of(self.spec.torch_class))

    def train_both(self, dtype, device, seed):
        """Both Trainers from the same weights, batches and dropout masks (torch's, replayed on NumPy):
        (the initial params as float64 copies under the book's names, the masks, the NumPy and the torch Trainer)."""
        numpy_net, torch_net = self.spec.build(dtype, device, seed, matched=True, initial_bias=self.initial_bias)
        initial = {key: value.astype(np.float64) for key, value in numpy_net.params.items()}
        torch.manual_seed(seed)
        masks, stop_recording = record_masks(torch_net)
        torch_trainer = TorchTrainer(torch_net, *self.data(dtype), device=device, acceleration=self.acceleration,
                                     **self.settings(seed))
        torch_trainer.train()
        stop_recording()
        return initial, masks, self.train_numpy(numpy_net, dtype, masks, seed), torch_trainer

    def run(self, dtype, device, seed=0):
        initial, masks, numpy_trainer, torch_trainer = self.train_both(dtype, device, seed)
        records = self.compare_runs("trajectory", numpy_trainer, torch_trainer, dtype, device)
        if dtype != "float64" or self.acceleration.bf16:
            exact = self.train_numpy_float64(initial, masks, seed)
            records += self.compare_runs("exact:numpy", numpy_trainer, exact, dtype, device)
            records += self.compare_runs("exact:torch", torch_trainer, exact, dtype, device)
            perturbed = self.train_numpy_float64(initial, masks, seed, CONDITIONING_PERTURBATION)
            records += self.compare_runs("conditioning", perturbed, exact, dtype, device, kind="trajectory")
        return records

    def train_numpy(self, numpy_net, dtype, masks, seed):
        replay_masks(numpy_net, masks)
        trainer = NumpyTrainer(numpy_net, *self.data(dtype), **self.settings(seed))
        trainer.train()
        if trainer.max_iter < 50:
            raise ValueError(f"{self.name}: a trajectory needs at least 50 steps; this one has {trainer.max_iter}")
        return trainer

    def train_numpy_float64(self, initial, masks, seed, perturbation=0.0):
        """The NumPy side in float64 from `initial`, each weight multiplied by 1 + perturbation * N(0, 1):
        relative, as rounding is, so that a weight that is exactly zero (a bias) stays so."""
        net = self.spec.numpy_network("float64", seed, matched=True)
        noise = np.random.default_rng(seed + 1)
        for key, value in initial.items():
            net.params[key][...] = value * (1 + perturbation * noise.standard_normal(value.shape))
        return self.train_numpy(net, "float64", masks, seed)

    def compare_runs(self, prefix, trainer, reference, dtype, device, kind=None):
        """Records of `trainer`'s run against `reference`'s: the loss curve, and (but under bf16, whose
        rounding sends the weights apart, up to ~0.3 of their scale after 56 steps, and flips a few of
        32 test predictions) the accuracies and final weights. Each side is a Trainer; a torch Trainer's
        network is read through parity.convert."""
        kind = kind or self.kind
        records = [compare(self.name, f"{prefix}:train_loss_list", kind, trainer.train_loss_list,
                           reference.train_loss_list, dtype, device)]
        if self.acceleration.bf16 and kind == self.kind:
            return records
        records += [compare(self.name, f"{prefix}:{name}", kind, getattr(trainer, name), getattr(reference, name),
                            dtype, device) for name in ("train_acc_list", "test_acc_list")]
        params, expected = (self.numpy_params(side) for side in (trainer, reference))
        records += [compare(self.name, f"{prefix}:final {key}", kind, params[key], expected[key], dtype, device,
                            scale) for key, scale in scales(expected).items()]
        return records

    def numpy_params(self, trainer):
        if isinstance(trainer, TorchTrainer):
            dtype = str(trainer.dtype).removeprefix("torch.")
            numpy_net = self.spec.numpy_class(*self.spec.args, dtype=dtype, **self.spec.kwargs)
            return torch_to_numpy(trainer.network, numpy_net).params
        return trainer.network.params


SPECS = {
    "TwoLayerNet": NetworkSpec(numpy_nets.TwoLayerNet, torch_nets.TwoLayerNet, (784, 50, 10),
                               {"weight_init_std": 0.05}),
    "MultiLayerNet": NetworkSpec(numpy_nets.MultiLayerNet, torch_nets.MultiLayerNet, (784, [64, 32], 10),
                                 {"weight_decay_lambda": 0.01}),
    "MultiLayerNet[sigmoid,xavier]": NetworkSpec(numpy_nets.MultiLayerNet, torch_nets.MultiLayerNet,
                                                 (784, [40, 40], 10),
                                                 {"activation": "sigmoid", "weight_init_std": "xavier"}),
    "MultiLayerNetExtend[batchnorm]": NetworkSpec(numpy_nets.MultiLayerNetExtend, torch_nets.MultiLayerNetExtend,
                                                  (784, [64, 32], 10), {"use_batchnorm": True}),
    "MultiLayerNetExtend[dropout]": NetworkSpec(numpy_nets.MultiLayerNetExtend, torch_nets.MultiLayerNetExtend,
                                                (784, [64, 32], 10), {"use_dropout": True, "dropout_ration": 0.2}),
    "MultiLayerNetExtend[batchnorm,dropout,weight_decay]": NetworkSpec(
        numpy_nets.MultiLayerNetExtend, torch_nets.MultiLayerNetExtend, (784, [64, 32], 10),
        {"use_batchnorm": True, "use_dropout": True, "dropout_ration": 0.15, "weight_decay_lambda": 0.05,
         "activation": "tanh"}),
    "SimpleConvNet": NetworkSpec(numpy_nets.SimpleConvNet, torch_nets.SimpleConvNet, (),
                                 {"conv_param": {"filter_num": 8, "filter_size": 5, "pad": 0, "stride": 1},
                                  "hidden_size": 32, "weight_init_std": 0.05}, flatten=False),
    "DeepConvNet": NetworkSpec(numpy_nets.DeepConvNet, torch_nets.DeepConvNet, (), {}, flatten=False),
    # what courses built on the book add: batch norm through MultiLayerNet, dropout with L1, DoubleConvNet
    "MultiLayerNet[batchnorm]": NetworkSpec(numpy_nets.MultiLayerNet, torch_nets.MultiLayerNet, (784, [64, 32], 10),
                                            {"use_batchnorm": True}),
    "MultiLayerNetExtend[dropout,l1]": NetworkSpec(
        numpy_nets.MultiLayerNetExtend, torch_nets.MultiLayerNetExtend, (784, [64, 32], 10),
        {"use_dropout": True, "dropout_ration": 0.2, "weight_decay_lambda": 0.01, "weight_decay_type": "l1"}),
    "DoubleConvNet": NetworkSpec(numpy_nets.DoubleConvNet, torch_nets.DoubleConvNet, (),
                                 {"conv_param_1": {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                                  "conv_param_2": {"filter_num": 8, "filter_size": 3, "pad": 1, "stride": 1},
                                  "hidden_size": 32}, flatten=False),
}

SPECS["DeepConvNet[no dropout]"] = NetworkSpec(numpy_nets.DeepConvNet, torch_nets.DeepConvNet, (),
                                               {"dropout_ratio": 0.0}, flatten=False)

# network: (optimizer, hyper-parameters, batch size, train size, dtypes); 7 epochs, so 56 steps each.
# Batch-norm nets train with SGD-family optimizers: Adam would turn the rounding noise in the
# gradients of the biases a batch norm cancels into full-size steps, different on each side.
# In float32 the DeepConvNet with dropout after its last layer amplifies float32 rounding to
# ~1e-1 within 50 steps (measured), so its float32 trajectory is checked without dropout. Its
# biases start at 0.1 rather than 0, and its learning rate is 1e-4: with zero biases the
# pre-activations of the images' blank background sit at ReLU's kink, where a bias's sign decides
# for hundreds of positions at once, and float32 rounding flips it at another step than float64
# does. Measured in float64 on the NumPy side at batch 8, a perturbation of 1e-6 of the initial weights
# then moved the end point by 5e-5 (with zero biases by 5e-2 at lr 1e-4 and 3e-2 at lr 3e-4; at lr 0.01,
# by 0.3 already from a 1e-7 perturbation), and NumPy's float32 run stayed within 5e-7 of float64.
# The DeepConvNets train on 32 images in batches of 4, which halves their cost (a NumPy step is matrix
# products proportional to the batch; the two twins took 18.6 s with batches of 8, 8.6 s with 4): the
# same 56 steps through the same layers. Measured at batch 4 (loss curves, relative): the perturbation
# moves the float64 end point by 8.2e-5 (with zero biases by 1.9e-3, which fails), NumPy's float32 run
# stays within 2.3e-6 of float64 and within 2.1e-7 of torch's float32 run; the tolerance is 1e-3.
TRAJECTORIES = {
    "TwoLayerNet": ("SGD", {"lr": 0.1}, 32, 256, ("float64", "float32")),
    "MultiLayerNet": ("Momentum", {"lr": 0.02}, 32, 256, ("float64", "float32")),
    "MultiLayerNet[sigmoid,xavier]": ("AdaGrad", {"lr": 0.02}, 32, 256, ("float64", "float32")),
    "MultiLayerNetExtend[batchnorm]": ("Momentum", {"lr": 0.02}, 32, 256, ("float64", "float32")),
    "MultiLayerNetExtend[dropout]": ("RMSprop", {"lr": 0.0005}, 32, 256, ("float64", "float32")),
    "MultiLayerNetExtend[batchnorm,dropout,weight_decay]": ("Nesterov", {"lr": 0.01}, 32, 256,
                                                            ("float64", "float32")),
    "SimpleConvNet": ("Adam", {"lr": 0.002}, 16, 128, ("float64", "float32")),
    "DeepConvNet": ("SGD", {"lr": 0.01}, 4, 32, ("float64",)),
    "DeepConvNet[no dropout]": ("SGD", {"lr": 0.0001}, 4, 32, ("float64", "float32")),
    "MultiLayerNetExtend[dropout,l1]": ("SGD", {"lr": 0.05}, 32, 256, ("float64", "float32")),
    "DoubleConvNet": ("Momentum", {"lr": 0.01}, 16, 128, ("float64", "float32")),
}
INITIAL_BIAS = {"DeepConvNet[no dropout]": 0.1}


def network_twins():
    twins = [NetworkTwin(name, spec) for name, spec in SPECS.items()]
    twins += [NetworkTwin(f"{name}[book]", SPECS[name], matched=False)
              for name in ("MultiLayerNet", "MultiLayerNetExtend[batchnorm]", "DeepConvNet")]
    twins += [NetworkTwin(f"{name}[bf16]", SPECS[name], acceleration=Acceleration(bf16=True), dtypes=("float32",))
              for name in ("MultiLayerNet", "SimpleConvNet", "MultiLayerNetExtend[batchnorm]")]
    return twins


# The torch speed-ups (torch_impl.acceleration), each training SimpleConvNet as above:
# (acceleration, dtypes, devices). compile and CUDA graphs only reorder float arithmetic,
# so they meet the plain trajectory tolerance; bf16 rounds every product to 8 significant
# bits and has a tolerance of its own (parity.tolerances, TrajectoryTwin.kind).
ACCELERATED = {
    "compile": (Acceleration(compile=True), ("float64", "float32"), ("cpu", "cuda")),
    "bf16": (Acceleration(bf16=True), ("float32",), ("cpu", "cuda")),
    "cuda_graphs": (Acceleration(cuda_graphs=True), ("float64", "float32"), ("cuda",)),
    "compile+cuda_graphs": (Acceleration(compile=True, cuda_graphs=True), ("float32",), ("cuda",)),
}


def trajectory_twins():
    twins = [TrajectoryTwin(f"{name}[trajectory,{optimizer}]", SPECS[name], optimizer, hp, batch_size=batch,
                            train_size=train, test_size=batch * 2, dtypes=dtypes, initial_bias=INITIAL_BIAS.get(name))
             for name, (optimizer, hp, batch, train, dtypes) in TRAJECTORIES.items()]
    optimizer, hp, batch, train, _ = TRAJECTORIES["SimpleConvNet"]
    twins += [TrajectoryTwin(f"SimpleConvNet[trajectory,{optimizer},{label}]", SPECS["SimpleConvNet"], optimizer, hp,
                             batch_size=batch, train_size=train, test_size=batch * 2, dtypes=dtypes,
                             acceleration=acceleration, devices=devices)
              for label, (acceleration, dtypes, devices) in ACCELERATED.items()]
    return twins
