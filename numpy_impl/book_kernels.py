"""The book's own kernels, kept beside the faster ones that numpy_impl.layers uses.

They compute the same arrays (the tests check it) the way the book's
common/layers.py does: im2col and col2im by loops over filter positions, max
pooling through im2col and fancy indexing, ReLU through boolean masks. They are
the baseline of `python -m experiments.bench`, and `book_style(network)` swaps
them into any network.
"""
import numpy as np

from .layers import Convolution, Pooling, Relu
from .util import col2im_book, im2col_book


class BookRelu(Relu):
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class BookConvolution(Convolution):
    """The book's convolution: its im2col/col2im, its output layout, dx computed for every layer."""

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        out_h, out_w = self._output_size(x)
        col = im2col_book(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im_book(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class BookPooling(Pooling):
    """The book's max pooling (and the same for average): im2col, then one row per window."""

    def forward(self, x):
        N, C = x.shape[:2]
        out_h, out_w = self._output_size(x)
        self.x = x
        col = im2col_book(self._padded(x), self.pool_h, self.pool_w, self.stride, 0)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        if self.mode == "max":
            self.arg_max = np.argmax(col, axis=1)
            out = np.max(col, axis=1)
        else:
            out = np.mean(col, axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        if self.mode == "max":
            dcol = np.zeros((dout.size, pool_size), dtype=dout.dtype)
            dcol[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        else:
            dcol = np.repeat(dout.reshape(-1, 1) / pool_size, pool_size, axis=1)
        dcol = dcol.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        N, C, H, W = self.x.shape
        p = self.pad
        dx = col2im_book(dcol, (N, C, H + 2 * p, W + 2 * p), self.pool_h, self.pool_w, self.stride, 0)
        return dx[:, :, p:p + H, p:p + W]


def book_style(network):
    """Replace network's Convolution, Pooling and Relu layers, in place, by the book's kernels."""
    for name, layer in network.layers.items():
        if type(layer) is Convolution:
            network.layers[name] = BookConvolution(layer.W, layer.b, layer.stride, layer.pad)  # dx everywhere
        elif type(layer) is Pooling:
            network.layers[name] = BookPooling(layer.pool_h, layer.pool_w, layer.stride, layer.pad, layer.mode)
        elif type(layer) is Relu:
            network.layers[name] = BookRelu()
    return network
