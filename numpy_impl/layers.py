"""Backprop layers of the book (common/layers.py): a forward/backward pair each.

Each layer caches what its backward pass needs on the object, as in the book.
Parameter arrays are held by reference, so an optimizer updating a network's
`params` in place updates the layers too. Every layer keeps its input's dtype.
"""
import numpy as np

from dlfs_common.checks import (
    check_dropout_ratio,
    check_fraction,
    check_integer,
    check_labels,
    check_non_negative,
    check_positive,
)

from .functions import CROSS_ENTROPY_EPS, cross_entropy_error, cross_entropy_of_scores, softmax
from .util import check_window, col2im, im2col


class Relu:
    """max(0, x). Shapes: any -> same.

    The book zeroes masked elements in place (out[mask] = 0); multiplying by
    the kept elements leaves the caller's array alone and, unlike np.where on
    a mask of random signs, runs at memory speed. An inf or nan gradient at a
    masked position becomes nan (the book's gives 0).
    """

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * ~self.mask


class LeakyRelu:
    """x for x > 0, alpha*x otherwise. Shapes: any -> same."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] *= self.alpha
        return out

    def backward(self, dout):
        dx = dout.copy()
        dx[self.mask] *= self.alpha
        return dx


class Sigmoid:
    """1 / (1 + exp(-x)). Shapes: any -> same."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Tanh:
    """tanh(x). Shapes: any -> same."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out ** 2)


ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyRelu}


def activation_layer(name):
    """A new activation layer by name: 'relu', 'sigmoid', 'tanh' or 'leaky_relu'."""
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


class Learnable:
    """A layer with parameters. `learned` maps each parameter attribute to the attribute that holds its
    gradient after backward; a network finds its parameters' gradients through it (LayerNet.gradient)."""
    learned = {}

    def parameters(self):
        """{name: array} of what this layer learns: the very arrays it was given (the network's params)."""
        return {name: getattr(self, name) for name in self.learned}

    def gradients(self):
        """{name: gradient} from the last backward, named like parameters()."""
        return {name: getattr(self, gradient) for name, gradient in self.learned.items()}


class Affine(Learnable):
    """x @ W + b. W: (D, M), b: (M,).

    Shapes: x (N, D) or (N, d1, d2, ...) with d1*d2*... == D -> (N, M); the
    input is flattened per sample like the book, and dx gets the input's shape.
    backprop_to_input=False skips dx (backward returns None), for a network's first layer.
    """

    learned = {"W": "dW", "b": "db"}

    def __init__(self, W, b, backprop_to_input=True):
        self.W = W
        self.b = b
        self.backprop_to_input = backprop_to_input
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != self.W.shape[0]:
            raise ValueError(
                f"Affine expects input of width {self.W.shape[0]} per sample (W is "
                f"{self.W.shape}); got input of shape {x.shape}"
            )
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], self.W.shape[0])
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        if not self.backprop_to_input:
            return None
        return np.dot(dout, self.W.T).reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy loss.

    forward(x (N, C), t one-hot (N, C) or integer (N,)) -> scalar loss.
    backward(dout=1) -> (N, C), the gradient (y - t) / N.
    log_eps is added inside the log as in the book (1e-7); log_eps=0 gives
    `F.cross_entropy`'s value, through a log-softmax (finite for any finite scores, where the log of an
    underflowed softmax is not). The gradient ignores it either way.
    """

    def __init__(self, log_eps=CROSS_ENTROPY_EPS):
        check_non_negative("SoftmaxWithLoss", "log_eps", log_eps)
        self.log_eps = log_eps
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects scores of shape (N, C); got {x.shape}")
        labels = check_labels(t, *x.shape)
        self.t = np.asarray(t) if np.shape(t) == x.shape else labels  # one-hot rows, or labels of shape (N,)
        self.y = softmax(x)
        if self.log_eps:
            self.loss = cross_entropy_error(self.y, self.t, self.log_eps)
        else:
            self.loss = cross_entropy_of_scores(x, labels)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx = (self.y - self.t.astype(self.y.dtype)) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx * dout


class Dropout:
    """Randomly zero units during training (http://arxiv.org/abs/1207.0580).

    Book semantics (default): train `x * mask`, test `x * (1 - dropout_ratio)`.
    inverted=True gives PyTorch's: train `x * mask / (1 - dropout_ratio)`, test `x`.
    The keep-mask is drawn from `rng` (a numpy Generator; by default NumPy's
    global state, like the book), or passed to `forward` to make it deterministic.
    Shapes: any -> same.
    """

    def __init__(self, dropout_ratio=0.5, inverted=False, rng=None):
        check_dropout_ratio("dropout_ratio", dropout_ratio)
        self.dropout_ratio = dropout_ratio
        self.inverted = inverted
        self.rng = rng
        self.mask = None

    def scale(self, train_flg):
        """The factor applied to kept units: 1 or 1/(1-r) in training, (1-r) or 1 in evaluation."""
        if train_flg:
            return 1.0 / (1.0 - self.dropout_ratio) if self.inverted else 1.0
        return 1.0 if self.inverted else 1.0 - self.dropout_ratio

    def draw_mask(self, shape):
        """A boolean keep-mask: True with probability 1 - dropout_ratio."""
        uniform = np.random.rand(*shape) if self.rng is None else self.rng.random(shape)
        return uniform > self.dropout_ratio

    def forward(self, x, train_flg=True, mask=None):
        if not train_flg:
            self.mask = None
            return x * self.scale(False)
        if mask is None:
            mask = self.draw_mask(x.shape)
        elif mask.shape != x.shape:
            raise ValueError(f"dropout mask has shape {mask.shape}; expected the input's {x.shape}")
        self.mask = np.asarray(mask, dtype=bool)
        return x * self.mask * self.scale(True)

    def backward(self, dout):
        if self.mask is None:
            return dout * self.scale(False)
        return dout * self.mask * self.scale(True)


class BatchNormalization(Learnable):
    """Batch normalisation (http://arxiv.org/abs/1502.03167).

    gamma, beta: (D,). Input (N, D), or (N, C, H, W), which the book flattens to
    (N, C*H*W) so that D = C*H*W.

    Options beyond the book:
    - per_channel=True normalises 4-D input per channel over (N, H, W), like
      `nn.BatchNorm2d`; gamma and beta are then (C,).
    - running_stats='torch' keeps PyTorch's running statistics: running_var
      starts at 1 and is updated with the unbiased batch variance. The book's
      ('book') starts it at 0 and uses the biased variance. Training outputs and
      gradients are the same either way.
    `momentum` keeps the book's meaning: running = momentum*running + (1-momentum)*batch,
    i.e. PyTorch's momentum is 1 - momentum.
    Training on one value per feature (a batch of one) is refused, as torch refuses it: the variance is 0 and
    the output is beta whatever the input. The book computes it anyway, and its
    ch06/batch_norm_gradient_check.py does so; the class attribute allow_single_sample (False) switches the
    refusal off, as `python -m numpy_impl.book` does while it runs a book script.
    """

    learned = {"gamma": "dgamma", "beta": "dbeta"}
    allow_single_sample = False

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None,
                 eps=1e-6, running_stats="book", per_channel=False):
        if running_stats not in ("book", "torch"):
            raise ValueError(f"running_stats must be 'book' or 'torch'; got {running_stats!r}")
        check_fraction("BatchNormalization", "momentum", momentum)
        check_positive("BatchNormalization", "eps", eps)
        if np.ndim(gamma) != 1 or np.shape(beta) != np.shape(gamma):
            raise ValueError(f"BatchNormalization: gamma and beta must be 1-D and alike; got shapes "
                             f"{np.shape(gamma)} and {np.shape(beta)}")
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.eps = eps  # the book writes 10e-7
        self.running_stats = running_stats
        self.per_channel = per_channel
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def _to_rows(self, x):
        if self.per_channel and x.ndim == 4:
            return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
        return x.reshape(x.shape[0], -1)

    def _from_rows(self, rows):
        if self.per_channel and len(self.input_shape) == 4:
            N, C, H, W = self.input_shape
            return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        return rows.reshape(*self.input_shape)

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        rows = self._to_rows(x)
        if rows.shape[1] != self.gamma.shape[0]:
            layout = "channels" if self.per_channel else "features per sample"
            raise ValueError(
                f"BatchNormalization has {self.gamma.shape[0]} {layout}; got input of shape {x.shape}"
            )
        if train_flg and rows.shape[0] < 2 and not self.allow_single_sample:
            raise ValueError(f"BatchNormalization in training needs more than one value per feature, as torch "
                             f"does; got input of shape {x.shape}")
        return self._from_rows(self.__forward(rows, train_flg))

    def __forward(self, x, train_flg):
        if self.running_mean is None:
            D = x.shape[1]
            self.running_mean = np.zeros(D, dtype=x.dtype)
            init_var = np.ones if self.running_stats == "torch" else np.zeros
            self.running_var = init_var(D, dtype=x.dtype)

        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + self.eps)
            xn = xc / std

            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            running_update_var = var
            if self.running_stats == "torch":
                n = x.shape[0]
                running_update_var = var * (n / (n - 1)) if n > 1 else var
            self.running_mean[...] = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var[...] = self.momentum * self.running_var + (1 - self.momentum) * running_update_var
        else:
            xc = x - self.running_mean
            xn = xc / np.sqrt(self.running_var + self.eps)
            self.batch_size = None  # marks the backward of an evaluation-mode forward
            self.xn = xn
            self.std = np.sqrt(self.running_var + self.eps)

        return self.gamma * xn + self.beta

    def backward(self, dout):
        return self._from_rows(self.__backward(self._to_rows(dout)))

    def __backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        self.dgamma = dgamma
        self.dbeta = dbeta
        if self.batch_size is None:  # evaluation mode: the statistics are constants (not in the book)
            return dxn / self.std
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / self.batch_size


class Convolution(Learnable):
    """2-D convolution (cross-correlation) as the book computes it: every window of the input unfolded as a row
    (im2col), one matrix product with the filters, and backward's gradient rows added back into images (col2im).

    W: (FN, C, FH, FW), b: (FN,). Shapes: x (N, C, H, W) -> (N, FN, out_h, out_w),
    out_h = (H + 2*pad - FH) // stride + 1, likewise out_w.
    backprop_to_input=False skips dx (backward returns None): a network's first layer needs no gradient for its
    images, which the book computes anyway. numpy_impl.fast_layers.FastConvolution is the fast version.
    """

    learned = {"W": "dW", "b": "db"}

    def __init__(self, W, b, stride=1, pad=0, backprop_to_input=True):
        if np.ndim(W) != 4:
            raise ValueError(f"Convolution: W must be 4-D (FN, C, FH, FW); got shape {np.shape(W)}")
        if np.ndim(b) == 0:  # one bias for every filter, as the book's scripts pass b=0
            b = np.full(W.shape[0], b, dtype=W.dtype)
        if np.shape(b) != (W.shape[0],):
            raise ValueError(f"Convolution: b must hold one bias per filter, shape ({W.shape[0]},); "
                             f"got shape {np.shape(b)}")
        check_integer("Convolution", "stride", stride, 1)
        check_integer("Convolution", "pad", pad, 0)
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.backprop_to_input = backprop_to_input
        self.input_shape = None  # its shape is all backward needs of the input
        self.col = None
        self.dW = None
        self.db = None

    def _output_size(self, x):
        FN, C, FH, FW = self.W.shape
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(
                f"Convolution with W of shape {self.W.shape} expects input (N, {C}, H, W); got {x.shape}"
            )
        return check_window(x.shape, FH, FW, self.stride, self.pad)

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        out_h, out_w = self._output_size(x)
        self.input_shape = x.shape
        self.col = im2col(x, FH, FW, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW): a row per window
        out = self.col @ self.W.reshape(FN, -1).T + self.b  # (N*out_h*out_w, FN)
        return out.reshape(x.shape[0], out_h, out_w, FN).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # the forward product's rows: (N*out_h*out_w, FN)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        self.col = None
        if not self.backprop_to_input:
            return None
        dcol = dout @ self.W.reshape(FN, -1)  # (N*out_h*out_w, C*FH*FW)
        return col2im(dcol, self.input_shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max or average pooling over pool_h x pool_w windows, per channel, as the book computes it: every window of
    every channel unfolded as a row (im2col), its maximum (or mean) taken; backward sends each gradient to its
    window's maximum (or spreads it evenly) and adds the rows back into images (col2im).
    Stride 2 unless given, as in the book.

    Shapes: x (N, C, H, W) -> (N, C, out_h, out_w), out_h = (H + 2*pad - pool_h) // stride + 1, likewise out_w:
    windows that do not fit drop the input's last rows and columns, as the book's and `nn.MaxPool2d`'s do.
    Max pooling pads with -inf (as `nn.MaxPool2d`; the book pads with 0, which lets a pad win over negative
    inputs); average pooling pads with 0 and divides by the window size (`nn.AvgPool2d`'s
    count_include_pad=True). Ties go to the first maximum in window order. numpy_impl.fast_layers.FastPooling is
    the fast version.
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0, mode="max"):
        if mode not in ("max", "avg"):
            raise ValueError(f"pooling mode must be 'max' or 'avg'; got {mode!r}")
        for name, value, minimum in (("pool_h", pool_h, 1), ("pool_w", pool_w, 1), ("stride", stride, 1),
                                     ("pad", pad, 0)):
            check_integer("Pooling", name, value, minimum)
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.mode = mode
        self.input_shape = None  # all backward needs of the input
        self.arg_max = None

    def _output_size(self, x):
        return check_window(x.shape, self.pool_h, self.pool_w, self.stride, self.pad, what="pooling window")

    def _padded(self, x):
        if self.pad == 0:
            return x
        fill = -np.inf if self.mode == "max" else 0
        p = self.pad
        return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], "constant", constant_values=fill)

    def forward(self, x):
        N, C = x.shape[:2]
        out_h, out_w = self._output_size(x)
        self.input_shape = x.shape
        col = im2col(self._padded(x), self.pool_h, self.pool_w, self.stride)
        col = col.reshape(-1, self.pool_h * self.pool_w)  # a row per window and channel: (N*out_h*out_w*C, ph*pw)
        if self.mode == "max":
            self.arg_max = np.argmax(col, axis=1)
            out = np.max(col, axis=1)
        else:
            out = np.mean(col, axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        N, C, H, W = self.input_shape
        p = self.pad
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1).reshape(-1)  # the forward's rows, in order
        if self.mode == "max":
            dcol = np.zeros((dout.size, pool_size), dtype=dout.dtype)
            dcol[np.arange(dout.size), self.arg_max] = dout
        else:
            dcol = np.repeat(dout.reshape(-1, 1) / pool_size, pool_size, axis=1)
        dcol = dcol.reshape(-1, C * pool_size)  # im2col's rows: a window with all its channels
        dx = col2im(dcol, (N, C, H + 2 * p, W + 2 * p), self.pool_h, self.pool_w, self.stride)
        return dx[:, :, p:p + H, p:p + W]
