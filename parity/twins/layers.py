"""Twins of the book's functions and layers.

A LayerTwin says how to build each side, which parameters cross and how, and
which inputs exercise it; `run` does the rest: it draws inputs and parameters,
runs torch forward and autograd backward, hands what torch drew (a dropout
mask) to NumPy, runs NumPy forward and backward, and compares forward output,
every gradient and any state (running statistics). A twin in the book's default
configuration carries the docs/design.md relation that maps torch's results onto the
book's; the comparison is then exact, not merely "different".
"""
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from numpy_impl import fast_layers as FL
from numpy_impl import functions as F_np
from numpy_impl import layers as L
from numpy_impl import util as U
from torch_impl.layers import book_batch_norm

from ..convert import book_layout
from ..records import compare
from ..relations import book_loss, book_running_var
from ..sources import TwinSources, doc_of, method_sources, source_of
from ..tolerances import DTYPES
from ..twin import DEVICES, Check

FORWARD = Check("forward")

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def no_relation(results, inputs):
    return results


@dataclass
class LayerTwin:
    """One layer or function, built on both sides and compared.

    numpy: params -> a book layer (forward/backward) or a plain function.
    torch: () -> a module or function; `torch_params` says where each book
    parameter lives on it ('W': ('weight', transposed?)).
    inputs: name -> shape; 'x' is differentiated; input_sampler(rng, shape)
    replaces the standard normal. labels: number of classes of integer labels
    `t` (one_hot: given as one-hot rows).
    buffers: name -> (shape, path on the torch module); with set_buffers their
    values are drawn and given to both sides (NumPy gets them with the params),
    otherwise each side starts from its own initial state. state: the buffers
    compared after the run.
    train: None for layers without modes, else the mode to run in.
    relation(torch_results, inputs) -> what the NumPy side must equal (docs/design.md).
    mask_from_torch(module, torch_results) -> the dropout mask NumPy must use.
    """
    name: str
    numpy: Callable
    torch: Callable
    inputs: dict
    params: dict = field(default_factory=dict)
    torch_params: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)
    set_buffers: bool = False
    state: tuple = ()
    train: bool | None = None
    labels: int | None = None
    one_hot: bool = False
    relation: Callable = no_relation
    input_sampler: Callable | None = None
    mask_from_torch: Callable | None = None
    dtypes: tuple = DTYPES
    devices: tuple = DEVICES

    def draw(self, rng):
        if self.input_sampler is None:
            inputs = {name: rng.standard_normal(shape) for name, shape in self.inputs.items()}
        else:
            inputs = {name: self.input_sampler(rng, shape) for name, shape in self.inputs.items()}
        if self.labels:
            t = rng.integers(0, self.labels, self.inputs["x"][0])
            inputs["t"] = np.eye(self.labels)[t] if self.one_hot else t
        params = {name: rng.standard_normal(shape) for name, shape in self.params.items()}
        if self.set_buffers:
            params.update({name: rng.random(shape) + 0.5 for name, (shape, _) in self.buffers.items()})
        return inputs, params

    def run_torch(self, inputs, params, dtype, device, draw_dout):
        torch_dtype = TORCH_DTYPES[dtype]
        target = self.torch()
        if isinstance(target, nn.Module):
            target = target.to(device=device, dtype=torch_dtype)
            if self.train is not None:
                target.train(self.train)
        tensors = {}
        with torch.no_grad():
            for name, (path, transposed) in self.torch_params.items():
                value = torch.as_tensor(params[name], dtype=torch_dtype, device=device)
                tensors[name] = target.get_parameter(path)
                tensors[name].copy_(book_layout(value, transposed))
            if self.set_buffers:
                for name, (_, path) in self.buffers.items():
                    target.get_buffer(path).copy_(torch.as_tensor(params[name], dtype=torch_dtype))
        x = torch.tensor(inputs["x"], dtype=torch_dtype, device=device, requires_grad=True)
        args = [x]
        if "t" in inputs:
            t = torch.as_tensor(inputs["t"], device=device)
            args.append(t.to(torch_dtype) if self.one_hot else t)
        out = target(*args)
        results = {FORWARD: out.detach()}
        if out.requires_grad:
            if out.dim():
                inputs["dout"] = draw_dout(tuple(out.shape))
                out.backward(torch.as_tensor(inputs["dout"], dtype=torch_dtype, device=device))
            else:
                out.backward()
            results[Check("grad", "x")] = x.grad
            for name, (_, transposed) in self.torch_params.items():
                grad = tensors[name].grad
                results[Check("grad", name)] = book_layout(grad, transposed)
        for name in self.state:
            results[Check("state", name)] = target.get_buffer(self.buffers[name][1]).detach()
        return target, results

    def run_numpy(self, inputs, params, dtype, extra):
        target = self.numpy({name: value.astype(dtype) for name, value in params.items()})
        args = [inputs["x"].astype(dtype)] + ([inputs["t"]] if "t" in inputs else [])
        if self.train is not None:
            args.append(self.train)
        if not hasattr(target, "backward"):
            return {FORWARD: target(*args)}
        results = {FORWARD: target.forward(*args, **extra)}
        results[Check("grad", "x")] = target.backward(inputs["dout"].astype(dtype) if "dout" in inputs else 1)
        for name in self.torch_params:
            results[Check("grad", name)] = getattr(target, f"d{name}")
        for name in self.state:
            results[Check("state", name)] = getattr(target, name)
        return results

    def sources(self):
        _, params = self.draw(np.random.default_rng(0))
        numpy_side = self.numpy(params)
        is_function = inspect.isfunction(numpy_side)
        return TwinSources(source_of(numpy_side if is_function else type(numpy_side)),
                           source_of(self.torch()), "" if self.relation is no_relation else doc_of(self.relation),
                           {} if is_function else method_sources(type(numpy_side)))

    def run(self, dtype, device, seed=0):
        rng = np.random.default_rng(seed)
        inputs, params = self.draw(rng)
        torch.manual_seed(seed)
        module, torch_results = self.run_torch(inputs, params, dtype, device, rng.standard_normal)
        extra = {"mask": self.mask_from_torch(module, torch_results)} if self.mask_from_torch else {}
        numpy_results = self.run_numpy(inputs, params, dtype, extra)
        expected = self.relation(torch_results, inputs)
        return [compare(self.name, check.label, check.kind, value, expected[check], dtype, device)
                for check, value in numpy_results.items()]


def to_numpy_mask(module, results):
    """The keep-mask of a dropout whose input was nonzero: where the output is nonzero."""
    return (results[FORWARD] != 0).cpu().numpy()


def positive(rng, shape):
    """Inputs in [0.5, 1.5): nonzero, so that a dropout output is zero exactly where it dropped."""
    return rng.random(shape) + 0.5


def shifted_normal(rng, shape):
    """Inputs with mean 1 and standard deviation 3, so that a batch norm has work to do."""
    return rng.standard_normal(shape) * 3 + 1


def ties(rng, shape):
    """Inputs of 0s and 1s: every pooling window holds ties."""
    return rng.integers(0, 2, shape).astype(np.float64)


def scaled(factor_by_check):
    """A relation multiplying some of torch's results by constants: {FORWARD: 0.5, ...}."""
    def relation(results, inputs):
        return {key: value * factor_by_check.get(key, 1.0) for key, value in results.items()}
    relation.__doc__ = "The book's results are torch's times " + ", ".join(
        f"{factor:g} for {check.label}" for check, factor in factor_by_check.items()) + " (docs/design.md)."
    return relation


def cross_entropy_relation(results, inputs):
    """The book's loss from torch's (parity.relations.book_loss); the gradients are equal."""
    scores = torch.as_tensor(inputs["x"], dtype=torch.float64, device=results[FORWARD].device)
    labels = np.argmax(inputs["t"], axis=1) if inputs["t"].ndim == 2 else inputs["t"]
    return {**results, FORWARD: book_loss(results[FORWARD], scores, labels)}


def running_var_relation(batch_rows, momentum=0.1):
    """The book's running variance after one training step from the initial state, from torch's
    (parity.relations.book_running_var)."""
    def relation(results, inputs):
        """The book's running variance from torch's after one step: torch starts from 1 and adds the unbiased
        batch variance, the book from 0 with the biased one (parity.relations.book_running_var)."""
        running_var = Check("state", "running_var")
        return {**results, running_var: book_running_var(results[running_var], batch_rows, 1, momentum)}
    return relation


def with_book_batch_norm(module):
    """`module` (a batch norm, or flattened_batchnorm's Sequential) with torch_impl's BookBatchNorm in its place."""
    if isinstance(module, nn.Sequential):
        module[1] = book_batch_norm(module[1])
        return module
    return book_batch_norm(module)


def flattened_batchnorm(features, shape):
    return nn.Sequential(nn.Flatten(), nn.BatchNorm1d(features, eps=1e-6, momentum=0.1), nn.Unflatten(1, shape))


def function_twins():
    """The activation functions and softmax, forward only (the NumPy functions have no backward)."""
    return [
        LayerTwin("sigmoid", lambda p: F_np.sigmoid, lambda: torch.sigmoid, {"x": (4, 7)}),
        LayerTwin("relu", lambda p: F_np.relu, lambda: torch.relu, {"x": (4, 7)}),
        LayerTwin("tanh", lambda p: F_np.tanh, lambda: torch.tanh, {"x": (4, 7)}),
        LayerTwin("leaky_relu", lambda p: F_np.leaky_relu, lambda: nn.functional.leaky_relu, {"x": (4, 7)}),
        LayerTwin("softmax", lambda p: F_np.softmax, lambda: (lambda x: torch.softmax(x, dim=-1)), {"x": (5, 10)}),
        # scores of a few thousand overflow exp() in float64 (beyond ~709): a softmax must shift them first
        LayerTwin("softmax[large scores]", lambda p: F_np.softmax, lambda: (lambda x: torch.softmax(x, dim=-1)),
                  {"x": (5, 10)}, input_sampler=lambda rng, shape: 1000 * rng.standard_normal(shape)),
    ]


def window_twins():
    """unfold and fold (numpy_impl.util), what FastConvolution is built on, against
    torch's F.unfold and F.fold: the same layout, forward only."""
    twins = []
    cases = [(2, 3, 7, 7, 3, 3, 1, 0), (2, 2, 9, 8, 3, 2, 2, 1), (1, 3, 6, 6, 2, 2, 2, 0)]
    for N, C, H, W, fh, fw, stride, pad in cases:
        out_h, out_w = U.conv_output_size(H, fh, stride, pad), U.conv_output_size(W, fw, stride, pad)
        window = f"{fh}x{fw},stride={stride},pad={pad},in={H}x{W}"
        twins += [
            LayerTwin(f"unfold[{window}]", lambda p, a=(fh, fw, stride, pad): lambda x: U.unfold(x, *a),
                      lambda k=(fh, fw), s=stride, pd=pad: lambda x: nn.functional.unfold(x, k, padding=pd, stride=s),
                      {"x": (N, C, H, W)}),
            LayerTwin(f"fold[{window}]", lambda p, a=((N, C, H, W), fh, fw, stride, pad): lambda x: U.fold(x, *a),
                      lambda size=(H, W), k=(fh, fw), s=stride, pd=pad:
                      lambda x: nn.functional.fold(x, size, k, padding=pd, stride=s),
                      {"x": (N, C * fh * fw, out_h * out_w)}),
        ]
    return twins


def activation_twins():
    return [
        LayerTwin("Relu", lambda p: L.Relu(), nn.ReLU, {"x": (4, 3, 5)}),
        LayerTwin("Sigmoid", lambda p: L.Sigmoid(), nn.Sigmoid, {"x": (4, 7)}),
        LayerTwin("Tanh", lambda p: L.Tanh(), nn.Tanh, {"x": (4, 7)}),
        LayerTwin("LeakyRelu", lambda p: L.LeakyRelu(0.01), lambda: nn.LeakyReLU(0.01), {"x": (4, 7)}),
    ]


def loss_twins():
    twins = []
    for one_hot in (False, True):
        suffix = "one-hot" if one_hot else "integer"
        twins.append(LayerTwin(f"SoftmaxWithLoss[{suffix} labels]", lambda p: L.SoftmaxWithLoss(log_eps=0.0),
                               nn.CrossEntropyLoss, {"x": (6, 10)}, labels=10, one_hot=one_hot))
        twins.append(LayerTwin(f"SoftmaxWithLoss[{suffix} labels,book]", lambda p: L.SoftmaxWithLoss(),
                               nn.CrossEntropyLoss, {"x": (6, 10)}, labels=10, one_hot=one_hot,
                               relation=cross_entropy_relation))
    return twins


def affine_twins():
    linear = {"W": ("weight", True), "b": ("bias", False)}
    return [
        LayerTwin("Affine", lambda p: L.Affine(p["W"], p["b"]), lambda: nn.Linear(6, 4), {"x": (3, 6)},
                  params={"W": (6, 4), "b": (4,)}, torch_params=linear),
        LayerTwin("Affine[N-D input]", lambda p: L.Affine(p["W"], p["b"]),
                  lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), {"x": (3, 2, 2, 3)},
                  params={"W": (12, 5), "b": (5,)},
                  torch_params={"W": ("1.weight", True), "b": ("1.bias", False)}),
    ]


def dropout_twins():
    p = 0.3
    twins = []
    for train in (True, False):
        mode = "train" if train else "eval"
        mask = to_numpy_mask if train else None
        twins += [
            LayerTwin(f"Dropout[{mode}]", lambda params: L.Dropout(p, inverted=True), lambda: nn.Dropout(p),
                      {"x": (8, 50)}, train=train, input_sampler=positive, mask_from_torch=mask),
            LayerTwin(f"Dropout[{mode},book]", lambda params: L.Dropout(p), lambda: nn.Dropout(p),
                      {"x": (8, 50)}, train=train, input_sampler=positive, mask_from_torch=mask,
                      relation=scaled({FORWARD: 1 - p, Check("grad", "x"): 1 - p})),
        ]
    from torch_impl.layers import BookDropout
    twins.append(LayerTwin("Dropout[train,BookDropout]", lambda params: L.Dropout(p), lambda: BookDropout(p),
                           {"x": (8, 50)}, train=True, input_sampler=positive,
                           mask_from_torch=lambda module, results: module.mask.cpu().numpy()))
    return twins


def batchnorm_twins():
    twins = []
    cases = [  # name suffix, NumPy options, torch module, input shape, features, rows per feature, path prefix
        ("2-D", {}, lambda: nn.BatchNorm1d(7, eps=1e-6, momentum=0.1), (10, 7), 7, 10, ""),
        ("4-D flattened", {}, lambda: flattened_batchnorm(18, (2, 3, 3)), (6, 2, 3, 3), 18, 6, "1."),
        ("per-channel", {"per_channel": True}, lambda: nn.BatchNorm2d(3, eps=1e-6, momentum=0.1), (4, 3, 5, 2),
         3, 40, ""),
    ]
    for suffix, options, module, shape, features, rows, prefix in cases:
        common = dict(inputs={"x": shape}, params={"gamma": (features,), "beta": (features,)},
                      torch_params={"gamma": (prefix + "weight", False), "beta": (prefix + "bias", False)},
                      buffers={name: ((features,), prefix + name) for name in ("running_mean", "running_var")},
                      input_sampler=shifted_normal)
        twins += [
            LayerTwin(f"BatchNormalization[{suffix},train]", lambda p, o=options: L.BatchNormalization(
                p["gamma"], p["beta"], running_stats="torch", **o), module, train=True,
                state=("running_mean", "running_var"), **common),
            LayerTwin(f"BatchNormalization[{suffix},train,book]", lambda p, o=options: L.BatchNormalization(
                p["gamma"], p["beta"], **o), module, train=True, state=("running_mean", "running_var"),
                relation=running_var_relation(rows), **common),
            # torch_impl's BookBatchNorm, the book's running statistics themselves: no relation needed
            LayerTwin(f"BatchNormalization[{suffix},train,book,BookBatchNorm]", lambda p, o=options:
                      L.BatchNormalization(p["gamma"], p["beta"], **o), lambda m=module: with_book_batch_norm(m()),
                      train=True, state=("running_mean", "running_var"), **common),
            LayerTwin(f"BatchNormalization[{suffix},eval]", lambda p, o=options: L.BatchNormalization(
                p["gamma"], p["beta"], running_mean=p["running_mean"], running_var=p["running_var"], **o),
                module, train=False, set_buffers=True, **common),
        ]
    return twins


def convolution_twins():
    cases = [(2, 3, 7, 7, 4, 3, 3, 1, 0), (2, 2, 9, 8, 3, 3, 2, 2, 1), (1, 3, 6, 5, 2, 4, 2, 3, 2),
             (3, 1, 5, 5, 5, 5, 5, 1, 0), (2, 4, 8, 8, 6, 1, 3, 2, 2),
             # stride 1, several channels, pad 1 and 2: FastConvolution's ShiftedRows path with padding
             (2, 4, 7, 7, 4, 3, 3, 1, 1), (2, 5, 6, 6, 2, 5, 5, 1, 2)]
    twins = []
    for N, C, H, W, FN, fh, fw, stride, pad in cases:
        for module, layer in ((L, "Convolution"), (FL, "FastConvolution")):
            twins.append(LayerTwin(  # the class looked up when the twin runs: parity.check stands a learner's in
                f"{layer}[{C}->{FN},{fh}x{fw},stride={stride},pad={pad},in={H}x{W}]",
                lambda p, s=stride, pd=pad, m=module, name=layer: getattr(m, name)(p["W"], p["b"], s, pd),
                lambda C=C, FN=FN, fh=fh, fw=fw, s=stride, pd=pad: nn.Conv2d(C, FN, (fh, fw), stride=s, padding=pd),
                {"x": (N, C, H, W)}, params={"W": (FN, C, fh, fw), "b": (FN,)},
                torch_params={"W": ("weight", False), "b": ("bias", False)}))
    return twins


def pooling_twins():
    cases = [("max", 2, 2, 0, (2, 3, 8, 8)), ("max", 3, 2, 0, (2, 2, 7, 9)), ("max", 3, 3, 1, (1, 3, 7, 4)),
             ("avg", 2, 2, 0, (2, 3, 6, 6)), ("avg", 3, 2, 1, (2, 2, 7, 5)), ("avg", 3, 1, 0, (1, 2, 5, 6)),
             # windows that do not tile the input: the last rows and columns are dropped, as torch drops them
             ("max", 2, 2, 0, (2, 3, 7, 7)), ("max", 3, 2, 1, (2, 2, 8, 6)), ("avg", 2, 2, 0, (1, 2, 5, 9)),
             ("avg", 3, 3, 0, (2, 1, 8, 7)), ("max", 2, 3, 0, (1, 2, 9, 8))]
    twins = []
    for mode, pool, stride, pad, shape in cases:
        torch_class = nn.MaxPool2d if mode == "max" else nn.AvgPool2d
        for module, layer in ((L, "Pooling"), (FL, "FastPooling")):
            twins.append(LayerTwin(
                f"{layer}[{mode},{pool}x{pool},stride={stride},pad={pad},in={shape[2]}x{shape[3]}]",
                # max pooling is built with the book's arguments alone (its Pooling has no `mode`), so that a
                # learner's book-style class stands in for it (parity.check)
                lambda p, md=mode, k=pool, s=stride, pd=pad, m=module, name=layer: getattr(m, name)(
                    k, k, s, pd, **({"mode": md} if md == "avg" else {})),
                lambda cls=torch_class, k=pool, s=stride, pd=pad: cls(k, stride=s, padding=pd), {"x": shape}))
    for module, layer in ((L, "Pooling"), (FL, "FastPooling")):
        twins.append(LayerTwin(f"{layer}[max,2x2,stride=2,ties]",
                               lambda p, m=module, name=layer: getattr(m, name)(2, 2, 2),
                               lambda: nn.MaxPool2d(2, stride=2), {"x": (2, 2, 6, 6)}, input_sampler=ties))
    return twins


def layer_twins():
    return (function_twins() + window_twins() + activation_twins() + loss_twins() + affine_twins() + dropout_twins()
            + batchnorm_twins() + convolution_twins() + pooling_twins())
