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
from .shifted_rows import ShiftedRows
from .util import check_window, fold, unfold_batch


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
    """2-D convolution (cross-correlation) through unfolded windows and one matrix product.

    W: (FN, C, FH, FW), b: (FN,). Shapes: x (N, C, H, W) -> (N, FN, out_h, out_w)
    with out_h = (H + 2*pad - FH) // stride + 1. The book unfolds with im2col
    (one row per window), multiplies, and transposes the product back to
    (N, FN, ...); this layer unfolds every window as a column (unfold_batch), the
    transposed layout, in which the product of the whole batch comes out
    (FN, N, ...). Like the book's, the output is a transposed view of the
    product, (N, FN, ...) by its shape: see _forward_by_bias_row.
    backprop_to_input=False skips dx (backward returns None): a network's first
    layer needs no gradient for its input images, which the book computes anyway.

    Stride 1 with more than one input channel, every layer of the book's
    networks but the first, takes a faster path: see _forward_by_shifted_rows
    and shifted_rows.py. It keeps the memory of its unfolded input and of its
    products (`workspaces`) from one step to the next while the batch's shape
    stays the same.
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
        self.input_shape = None  # its shape is all backward needs of the input, which the layer does not keep
        self.cols = None
        self.workspaces = {}
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
        out_h, out_w = self._output_size(x)
        self.input_shape = x.shape
        if self._by_shifted_rows():
            return self._forward_by_shifted_rows(x, out_h, out_w)
        return self._forward_by_bias_row(x, out_h, out_w)

    def _forward_by_bias_row(self, x, out_h, out_w):
        """The product of the filters and bias, [W | b], with the unfolded batch over a row of ones: the
        product adds the bias as it goes (a 26th term for 5x5 filters over one channel), so that no pass of
        its own does. The product comes out (FN, N, out_h, out_w), and the layer returns it as the transposed
        view (N, FN, out_h, out_w), as the book's layer returns its (N, out_h, out_w, FN) product, rather than
        copying it into image order: ReLU and pooling read it at the same speed, the gradients that come back
        have its layout (Pooling.backward keeps it), and backward takes them as the product's layout without
        a copy either. Two passes over the output (each 14 MB in SimpleConvNet, float64) are gone. With
        Pooling's changes (maps in memory order, dx written once, only the input's shape kept), a SimpleConvNet
        training step (2 cores, batch 100, Adam; eight pairs of processes, alternating with the layer that
        added the bias while copying the product into image order) took a median 0.89 times as long in
        float64 (pairs 0.87 to 1.02) and 0.91 times in float32 (0.88 to 1.37, as the machine's speed drifted),
        and its peak memory fell from 63.4 to 57.3 MiB (float64)."""
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        dtype = np.result_type(self.W, x)
        self.cols = np.empty((C * FH * FW + 1, N * out_h * out_w), dtype=dtype)
        self.cols[-1] = 1
        unfold_batch(x, FH, FW, self.stride, self.pad, out=self.cols[:-1])
        filters_and_bias = np.concatenate([self.W.reshape(FN, -1), self.b.reshape(FN, 1)], axis=1, dtype=dtype)
        return (filters_and_bias @ self.cols).reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)

    def backward(self, dout):
        if self._by_shifted_rows():
            return self._backward_by_shifted_rows(dout)
        FN, C, FH, FW = self.W.shape
        N = self.input_shape[0]
        # the product's layout: no copy when dout has the forward output's (ReLU's and pooling's gradients do)
        dout = np.ascontiguousarray(dout.reshape(N, FN, -1).transpose(1, 0, 2)).reshape(FN, -1)
        self.db = dout.sum(axis=1)
        self.dW = (dout @ self.cols[:-1].T).reshape(FN, C, FH, FW)
        self.cols = None
        if not self.backprop_to_input:
            return None
        dcols = (self.W.reshape(FN, -1).T @ dout).reshape(C * FH * FW, N, -1).transpose(1, 0, 2)  # unfold's layout
        return fold(dcols, self.input_shape, FH, FW, self.stride, self.pad)

    def _by_shifted_rows(self):
        """Stride 1, more than one input channel and pad < filter size (every layer of the book's networks but
        the first): there the unfolded input, nine times the input, costs more than the product. With one
        channel it is small, and unfold_batch measured as fast (SimpleConvNet's layer)."""
        FN, C, FH, FW = self.W.shape
        return self.stride == 1 and C > 1 and self.pad < min(FH, FW)

    def _forward_by_shifted_rows(self, x, out_h, out_w):
        """The batch laid out as ShiftedRows, where each filter position's window elements are one shifted
        slice, and the convolution one matrix product over the whole batch and a sum of shifted slices.

        The input is unfolded over the filter's columns only (FW long copies per channel, `columns`); one
        product of the filters' rows, (fy, f) by (c, fx), with it sums every window's channels and columns,
        and add_row_shifts adds its FH blocks up, each shifted by its filter row, where the windows start.
        The full unfold this replaced (a long copy per filter position, then one product) made an array nine
        times the input, written and read twice a step; this one is three times the input, and the products
        (FH times the output) take its place in backward. Both beat unfold_batch, whose copies run only
        out_w (7 to 28) elements long, at the price of the window positions that straddle a row's or an
        image's end, computed and dropped (7 percent more products at 28x28, 27 percent at 8x8). The unfolded
        input and the products are written into memory kept from the previous step (`workspaces`): fresh
        memory of that size is mapped and zeroed by the kernel page by page, which took longer than a copy
        into it (a 52 MB copy: 9 ms into new memory, 4 ms into old). Measured on 2 cores (batch 100, a
        training step with Adam, alternating with the full unfold in one process, rounds of 3 steps):
        DeepConvNet a median 0.83 times as long in float32 (rounds 0.75 to 0.91), 0.85 in float64 (0.77 to
        0.96), and its peak memory 107 MiB instead of 142 in float32. The full unfold had taken the float32
        step from 155-235 ms (a product per image) to 106-123.
        """
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        layout = ShiftedRows(N, H, W, self.pad)
        dtype = np.result_type(self.W, x)
        rows = layout.to_rows(x, dtype)
        length = layout.columns - (FW - 1)
        self.cols = layout.unfold_columns(rows, FW, self._workspace("columns", (C * FW, length), dtype))
        products = self._workspace("products", (FH * FN, layout.columns), dtype)
        np.matmul(self._filter_rows(), self.cols, out=products[:, :length])
        out = np.empty((FN, layout.columns), dtype=dtype)
        layout.add_row_shifts(products.reshape(FH, FN, -1), out[:, :layout.window_starts(FH, FW)])
        return layout.rows_to_images(out, 0, 0, out_h, out_w, add=self.b.reshape(FN, 1, 1))

    def _backward_by_shifted_rows(self, dout):
        """The adjoint of _forward_by_shifted_rows: dout laid out as the forward's output, zeros where a window
        produced no output, and shifted by each filter row (shift_rows) into the products' memory; dW one
        product of those with the unfolded input; dx the product of the filters' rows with them, written over
        the spent unfolded input and added back by fold_columns."""
        FN, C, FH, FW = self.W.shape
        N, _, H, W = self.input_shape
        layout = ShiftedRows(N, H, W, self.pad)
        dout = dout.reshape(N, FN, *check_window(self.input_shape, FH, FW, self.stride, self.pad))
        cols, self.cols = self.cols, None
        length = cols.shape[1]
        shifted = self._workspace("products", (FH * FN, layout.columns), cols.dtype)
        blocks = shifted.reshape(FH, FN, -1)
        layout.outputs_to_rows(dout, out=blocks[0])
        layout.shift_rows(blocks)
        self.db = dout.sum(axis=(0, 2, 3))
        # (fy, f) by (c, fx) -> (f, c, fy, fx)
        self.dW = np.ascontiguousarray((shifted[:, :length] @ cols.T).reshape(FH, FN, C, FW).transpose(1, 2, 0, 3))
        if not self.backprop_to_input:
            return None
        dcols = np.matmul(self._filter_rows().T, shifted[:, :length], out=cols)
        return layout.rows_to_images(layout.fold_columns(dcols, FW), self.pad, self.pad, H, W)

    def _filter_rows(self):
        """W as a matrix whose row (fy, f) holds filter f's row fy for every channel: (FH*FN, C*FW)."""
        FN, C, FH, FW = self.W.shape
        return self.W.transpose(2, 0, 1, 3).reshape(FH * FN, C * FW)

    def _workspace(self, name, shape, dtype):
        """The array `name` of workspaces: last step's if it has this shape and dtype, else a new one (which
        replaces it, so that at most one batch's is kept)."""
        workspace = self.workspaces.get(name)
        if workspace is None or workspace.shape != shape or workspace.dtype != dtype:
            workspace = self.workspaces[name] = np.empty(shape, dtype=dtype)
        return workspace


class Pooling:
    """Max or average pooling over pool_h x pool_w windows, per channel; stride 2 unless given, as in the book.

    Shapes: x (N, C, H, W) -> (N, C, out_h, out_w). The windows must tile the
    padded input: (H + 2*pad - pool_h) must be a multiple of stride (likewise W).
    Max pooling pads with -inf (as `nn.MaxPool2d`; the book pads with 0, which
    lets a pad win over negative inputs); average pooling pads with 0 and divides
    by the window size (`nn.AvgPool2d`'s count_include_pad=True). Ties in max
    pooling go to the first maximum in window order.
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
        self.input_shape = None  # all backward needs of the input, which the layer does not keep (the book's does)
        self.maps_swapped = False
        self.window_elements = None
        self.out = None

    def _output_size(self, x):
        out_h, out_w = check_window(x.shape, self.pool_h, self.pool_w, self.stride, self.pad,
                                    what="pooling window")
        _, _, H, W = x.shape
        for axis, size, window in (("height", H, self.pool_h), ("width", W, self.pool_w)):
            if (size + 2 * self.pad - window) % self.stride:
                raise ValueError(
                    f"pooling window {window} with stride {self.stride} and pad {self.pad} "
                    f"does not tile input {axis} {size}: ({size} + 2*{self.pad} - {window}) "
                    f"is not a multiple of {self.stride}"
                )
        return out_h, out_w

    def _padded(self, x):
        if self.pad == 0:
            return x
        fill = -np.inf if self.mode == "max" else 0
        p = self.pad
        return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], "constant", constant_values=fill)

    def _window_views(self, padded, out_h, out_w):
        """For each position (i, j) in the window, in window order, the strided view of the
        padded input holding that element of every window: shape (N, C, out_h, out_w)."""
        s = self.stride
        for i in range(self.pool_h):
            for j in range(self.pool_w):
                yield padded[:, :, i:i + s * (out_h - 1) + 1:s, j:j + s * (out_w - 1) + 1:s]

    def _maps(self, array):
        """array (N, C, ...) as (C, N, ...) if the pooling works on the input's maps in that order, else itself:
        an involution, that turns the maps' order back into the images' too."""
        return array.transpose(1, 0, 2, 3) if self.maps_swapped else array

    def forward(self, x):
        out_h, out_w = self._output_size(x)
        self.input_shape = x.shape
        # Pooling treats every (image, channel) map alike, and works on them in the order of x's memory, which
        # is (C, N, H, W) after a convolution that returns its product's transposed view (see
        # Convolution._forward_by_bias_row): reading and writing across the two layouts took 2 to 3 times as
        # long (one profile of SimpleConvNet in float64: forward and backward 7 and 17 ms against 3.5 and 6.8).
        self.maps_swapped = not x.flags.c_contiguous and x.transpose(1, 0, 2, 3).flags.c_contiguous
        views = self._window_views(self._padded(self._maps(x)), out_h, out_w)
        if self.mode == "avg":
            return np.ascontiguousarray(self._maps(sum(views) / (self.pool_h * self.pool_w)))
        # one contiguous slab per window position: backward compares them with the maximum
        # at memory speed, where comparing strided views is several times slower
        self.window_elements = np.stack(tuple(views))  # (pool_h*pool_w, N, C, out_h, out_w), or C and N swapped
        self.out = self.window_elements.max(axis=0)
        # the output in image order all the same (a quarter of the input's size): the next layer, a network's
        # Affine, reshapes it without a copy. Reducing straight into image order was slower than this copy.
        return np.ascontiguousarray(self._maps(self.out))

    def backward(self, dout):
        dout = np.ascontiguousarray(self._maps(dout))
        N, C, H, W = self.input_shape
        if self.maps_swapped:
            N, C = C, N
        out_h, out_w = dout.shape[2:]
        p = self.pad
        if p == 0 and self.pool_h == self.pool_w == self.stride and self.mode == "max":
            dx = np.empty((N, C, H, W), dtype=dout.dtype)  # the windows tile x, and write each element once
        else:
            dx = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=dout.dtype)
        dx_views = self._window_views(dx, out_h, out_w)
        if self.mode == "avg":
            for dx_view in dx_views:
                dx_view += dout / (self.pool_h * self.pool_w)
        else:
            # the gradient goes to the first position, in window order, that holds the maximum
            taken = np.zeros(dout.shape, dtype=bool)
            windows_apart = self.stride >= max(self.pool_h, self.pool_w)  # one write per element of dx
            for elements, dx_view in zip(self.window_elements, dx_views):
                first = elements == self.out
                first &= ~taken
                taken |= first
                if windows_apart:
                    np.multiply(dout, first, out=dx_view)
                else:
                    dx_view += dout * first
            self.window_elements = None
        return self._maps(dx[:, :, p:p + H, p:p + W])
