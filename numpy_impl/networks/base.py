"""What the book's networks share: a stack of layers ending in SoftmaxWithLoss.

A network subclass builds `self.params` (the book's `W1, b1, gamma1, ...`) and
`self.layers` (an ordered dict of layers holding those very arrays). Which
layer's gradient belongs to which parameter follows from that (layer_gradients),
so it is written nowhere. Everything else lives here once.
"""
import io
import zipfile
from collections import OrderedDict

import numpy as np

from dlfs_common.checks import (
    check_filter_fits,
    check_finite,
    check_labels,
    check_pooling_input,
    check_sample_counts,
    weight_init_kind,
)
from dlfs_common.files import atomic_write

from ..fast_layers import FastConvolution, FastPooling
from ..gradient import numerical_gradient
from ..layers import Affine, BatchNormalization, Convolution, Dropout, Learnable, Pooling, Relu, SoftmaxWithLoss
from ..safe_pickle import is_pickle, load_array_dict
from ..util import conv_output_size

TRAIN_MODE_LAYERS = (Dropout, BatchNormalization)


def normal_init(shape, scale, dtype, rng=None):
    """scale * standard normal of `shape`, drawn from `rng` or NumPy's global state like the book."""
    sample = np.random.randn(*shape) if rng is None else rng.standard_normal(shape)
    return (scale * sample).astype(dtype)


def init_scale(weight_init_std, fan_in):
    """The book's weight scale: 'he'/'relu' sqrt(2/fan_in), 'xavier'/'sigmoid' sqrt(1/fan_in), or a number."""
    kind = weight_init_kind(weight_init_std)
    if kind == "he":
        return np.sqrt(2.0 / fan_in)
    if kind == "xavier":
        return np.sqrt(1.0 / fan_in)
    return kind


class LayerDict(OrderedDict):
    """A network's layers by name, in order. An integer also indexes it (layers[0] is the first layer), as the
    book's DeepConvNet keeps its layers in a list."""

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


def read_parameter_file(file_name) -> dict[str, np.ndarray]:
    """{name: array} from a .npz written by save_params or a book's pickle of a dict of arrays (told apart
    by their contents, whatever the file's name); ValueError naming the file for anything else."""
    try:
        with open(file_name, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ValueError(f"{file_name}: cannot be read ({error.strerror or error})") from None
    if is_pickle(data):
        return load_array_dict(data, str(file_name))
    if not data:
        raise ValueError(f"{file_name} is empty, not a parameter file written by save_params")
    try:
        saved = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(saved, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array (a .npy), not the named arrays of an .npz")
        with saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{file_name} is not a parameter file written by save_params ({error})") from None


KERNELS = {False: (Convolution, Pooling), True: (FastConvolution, FastPooling)}  # by `fast`


class LayerNet:
    """Base of the book's networks. Subclasses fill params and layers.

    `fast` (True by default) builds the convolutions and poolings from numpy_impl.fast_layers, and runs a ReLU
    right before a max pooling after it (forward_order); False builds them from numpy_impl.layers, the
    reference a learner reads beside the book, in the book's order. Both compute the same scores and gradients
    to rounding (tests/test_fast_layers.py); use_fast_kernels switches a built network."""

    weight_decay_lambda = 0
    weight_decay_type = "l2"

    def __init__(self, dtype=np.float64, fast=True):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype}")
        if not isinstance(fast, bool):
            raise ValueError(f"fast must be True or False; got {fast!r}")
        self.fast = fast
        self.params = {}
        self.layers = LayerDict()
        self.last_layer = SoftmaxWithLoss()

    def convolution(self, W, b, stride=1, pad=0, backprop_to_input=True):
        """A Convolution layer of this network's kernels (`fast`)."""
        return KERNELS[self.fast][0](W, b, stride, pad, backprop_to_input)

    def pooling(self, pool_h, pool_w, stride=2, pad=0, mode="max"):
        """A Pooling layer of this network's kernels (`fast`)."""
        return KERNELS[self.fast][1](pool_h, pool_w, stride, pad, mode)

    def use_fast_kernels(self, fast: bool):
        """Rebuild the network's convolutions and poolings, in place, from the fast kernels (True) or the
        reference ones (False), on the same parameter arrays; returns the network. Layers of other classes
        (a learner's own) stay as they are."""
        if not isinstance(fast, bool):
            raise ValueError(f"fast must be True or False; got {fast!r}")
        self.fast = fast
        for name, layer in self.layers.items():
            if type(layer) in (Convolution, FastConvolution):
                self.layers[name] = self.convolution(layer.W, layer.b, layer.stride, layer.pad,
                                                     layer.backprop_to_input)
            elif type(layer) in (Pooling, FastPooling):
                self.layers[name] = self.pooling(layer.pool_h, layer.pool_w, layer.stride, layer.pad, layer.mode)
        return self

    def add_conv_blocks(self, owner, input_dim, conv_params, pool_after, weight_init_std, rng):
        """Append Conv{i} - Relu{i} for each (filter_num, filter_size, pad, stride) of conv_params, and a 2x2
        max pooling Pool{n} (stride 2) after each convolution i in pool_after; params W{i}, b{i} drawn in order
        with init_scale(weight_init_std, fan_in). Checks that each filter fits and each pooling halves its map.
        Returns the (channels, height, width) the last block gives."""
        channels, height, width = input_dim
        stage = 0
        for idx, (filter_num, filter_size, pad, stride) in enumerate(conv_params, start=1):
            check_filter_fits(owner, input_dim, f"convolution {idx}", height, width, filter_size, pad)
            fan_in = channels * filter_size * filter_size
            self.params[f"W{idx}"] = normal_init((filter_num, channels, filter_size, filter_size),
                                                 init_scale(weight_init_std, fan_in), self.dtype, rng)
            self.params[f"b{idx}"] = np.zeros(filter_num, dtype=self.dtype)
            self.layers[f"Conv{idx}"] = self.convolution(self.params[f"W{idx}"], self.params[f"b{idx}"], stride, pad,
                                                         backprop_to_input=idx > 1)  # no gradient for the images
            self.layers[f"Relu{idx}"] = Relu()
            channels = filter_num
            height = conv_output_size(height, filter_size, stride, pad)
            width = conv_output_size(width, filter_size, stride, pad)
            if idx in pool_after:
                stage += 1
                check_pooling_input(owner, input_dim, stage, height, width)
                self.layers[f"Pool{stage}"] = self.pooling(pool_h=2, pool_w=2, stride=2)
                height, width = height // 2, width // 2
        return channels, height, width

    @property
    def lastLayer(self):  # the book's chapter 5 name for last_layer
        return self.last_layer

    @property
    def output_size(self) -> int:
        """The number of classes: the width of the last Affine layer."""
        return [layer for layer in self.layers.values() if isinstance(layer, Affine)][-1].W.shape[1]

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Class scores (N, output_size); train_flg switches dropout and batch norm. The layers run in
        forward_order()."""
        x = np.asarray(x, dtype=self.dtype)
        for layer in self.forward_order():
            x = layer.forward(x, train_flg) if isinstance(layer, TRAIN_MODE_LAYERS) else layer.forward(x)
        return x

    def forward_order(self) -> list:
        """The layers in the order predict runs them (gradient runs their backward in reverse): the order of
        self.layers, except that with the fast kernels a Relu right before a max FastPooling runs after it.

        The two commute: the maximum of a rectified window is the rectified maximum, and the gradient reaches
        the same element, the first maximum, or none at all where the window's maximum is not positive (the
        ReLU's mask then stops it in either order). Scores and gradients come out bit for bit the same (tested),
        and ReLU works on a quarter of the elements (docs/speed.md)."""
        layers = list(self.layers.values())
        for index in range(len(layers) - 1):
            relu, pooling = layers[index], layers[index + 1]
            if type(relu) is Relu and type(pooling) is FastPooling and pooling.mode == "max":
                layers[index], layers[index + 1] = pooling, relu
        return layers

    def weight_decay(self) -> float:
        """The penalty on the weights W1, W2, ... (not biases, gamma or beta):
        0.5 * lambda * sum(W**2) (the book's L2), or lambda * sum(|W|) for weight_decay_type 'l1'."""
        if not self.weight_decay_lambda:
            return 0
        if self.weight_decay_type == "l1":
            return sum(self.weight_decay_lambda * np.sum(np.abs(W))
                       for key, W in self.params.items() if key.startswith("W"))
        return sum(0.5 * self.weight_decay_lambda * np.sum(W ** 2)
                   for key, W in self.params.items() if key.startswith("W"))

    def weight_decay_gradient(self, W):
        """The penalty's gradient for one weight: lambda * W (L2) or lambda * sign(W) (L1)."""
        if self.weight_decay_type == "l1":
            return self.weight_decay_lambda * np.sign(W)
        return self.weight_decay_lambda * W

    def loss(self, x: np.ndarray, t: np.ndarray, train_flg: bool = False) -> float:
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, t) + self.weight_decay()

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 100) -> float:
        """Fraction of samples whose highest score is the label (t integer or one-hot); the labels that
        `loss` refuses are refused here too (dlfs_common.checks.check_labels)."""
        check_sample_counts(x, t)
        t = check_labels(t, len(x), self.output_size)
        correct = 0
        for start in range(0, len(x), batch_size):
            y = self.predict(x[start:start + batch_size])
            correct += int(np.sum(np.argmax(y, axis=1) == t[start:start + batch_size]))
        return correct / len(x)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the training-mode loss by backpropagation, keyed like params."""
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.forward_order()):
            dout = layer.backward(dout)
        grads = self.layer_gradients()
        for key in grads:
            if key.startswith("W") and self.weight_decay_lambda:
                grads[key] = grads[key] + self.weight_decay_gradient(self.params[key])
        return grads

    def layer_gradients(self) -> dict[str, np.ndarray]:
        """{param key: its gradient from the last backward}, from the layers that hold each param: a layer
        holding the very array params[key] under its own name ('W') gives the gradient of that name."""
        keys = {id(array): key for key, array in self.params.items()}
        grads = {}
        for layer in self.layers.values():
            if isinstance(layer, Learnable):
                gradients = layer.gradients()
                for name, array in layer.parameters().items():
                    if id(array) in keys:
                        grads[keys[id(array)]] = gradients[name]
        unheld = sorted(set(self.params) - set(grads))
        if unheld:
            raise RuntimeError(f"{type(self).__name__}: no layer holds the params {unheld}; a layer must be given "
                               "the network's own array, not a copy")
        return {key: grads[key] for key in self.params}

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the training-mode loss by central differences (slow; for checking)."""
        def loss_w(_):
            return self.loss(x, t, train_flg=True)
        return {key: numerical_gradient(loss_w, self.params[key]) for key in self.params}

    def batchnorm_layers(self):
        """{index: BatchNormalization layer} for layers named 'BatchNorm{index}'."""
        return {name[len("BatchNorm"):]: layer for name, layer in self.layers.items()
                if isinstance(layer, BatchNormalization)}

    def buffers(self) -> dict[str, np.ndarray]:
        """Running statistics of the batch-norm layers: {'running_mean1': ..., 'running_var1': ...}."""
        found = {}
        for index, layer in self.batchnorm_layers().items():
            if layer.running_mean is not None:
                found[f"running_mean{index}"] = layer.running_mean
                found[f"running_var{index}"] = layer.running_var
        return found

    def set_buffer(self, name, value):
        """Set a running statistic ('running_mean1', 'running_var2', ...) by name."""
        layers = self.batchnorm_layers()
        for prefix in ("running_mean", "running_var"):
            index = name[len(prefix):]
            if name.startswith(prefix) and index in layers:
                setattr(layers[index], prefix, np.array(value, dtype=self.dtype))
                return
        raise KeyError(f"{type(self).__name__} has no buffer {name!r}")

    def save_params(self, file_name="params.npz") -> None:
        """Write params and running statistics to an .npz file (no pickle), atomically."""
        with atomic_write(file_name) as f:
            np.savez(f, **self.params, **self.buffers())

    def load_params(self, file_name="params.npz") -> None:
        """Read params (and running statistics) saved by save_params, in place; or the book's pickled
        parameter files (params.pkl), read without running them (numpy_impl.safe_pickle).

        The arrays are copied into the existing ones, so layers and optimizers
        that hold them see the new values. Every key and shape is checked
        before anything changes: on a ValueError the network is as it was.
        """
        arrays = read_parameter_file(file_name)
        missing = sorted(set(self.params) - set(arrays))
        if missing:
            raise ValueError(f"{file_name} lacks parameters {missing} of {type(self).__name__}")
        buffers = {name: array for name, array in arrays.items() if name not in self.params}
        expected = {**{key: param.shape for key, param in self.params.items()}, **self.buffer_shapes()}
        unknown = sorted(set(buffers) - set(expected))
        if unknown:
            raise ValueError(f"{file_name} holds {unknown}, which {type(self).__name__} does not have")
        for name, array in arrays.items():
            if array.shape != expected[name]:
                raise ValueError(f"{file_name}: {name} has shape {array.shape}; this network expects "
                                 f"{expected[name]}")
            if not np.issubdtype(array.dtype, np.floating):
                raise ValueError(f"{file_name}: {name} holds {array.dtype} values; parameters are floats")
            check_finite(f"{file_name}: {name}", array)
        for key, param in self.params.items():
            param[...] = arrays[key]
        for name, array in buffers.items():
            self.set_buffer(name, array)

    def buffer_shapes(self):
        """{'running_mean1': shape, 'running_var1': shape, ...}: every running statistic this network can
        hold, shaped like the batch norm's gamma."""
        return {f"{stat}{index}": self.params[f"gamma{index}"].shape
                for index in self.batchnorm_layers() for stat in ("running_mean", "running_var")}
