"""The fast kernels: Convolution and Pooling computing what numpy_impl.layers' reference versions compute, with
less memory traffic. Networks use them by default (`fast=True`); `network.use_fast_kernels(False)` switches a
network to the reference ones. tests/test_fast_layers.py and the parity twins prove them equal to the reference
(float64 to rounding, float32 within the usual tolerance) over every stride, pad and shape the layers take.

What each trick buys, measured, is in docs/speed.md.
"""
import numpy as np

from .layers import Convolution, Pooling
from .shifted_rows import ShiftedRows
from .util import check_window, fold, unfold_batch


class FastConvolution(Convolution):
    """Convolution through one matrix product over the whole batch, in the transposed layout.

    The batch is unfolded with every window as a column (unfold_batch), so that the product of the filters
    and bias, [W | b], with it over a row of ones comes out (FN, N, out_h, out_w) with the bias added; the layer
    returns that product as the transposed view (N, FN, out_h, out_w) instead of copying it into image order.
    ReLU and pooling read it as fast, the gradients that come back keep its layout (FastPooling does), and
    backward takes them without a copy either.

    Stride 1 with more than one input channel and pad smaller than the filter (every layer of the book's
    networks but the first) lays the batch out as ShiftedRows instead (see shifted_rows.py): the input is
    unfolded over the filter's columns only, and the product's FH blocks are added up, each shifted by its
    filter row. The unfolded input and the products are written into memory kept from the previous step
    (`workspaces`), since fresh memory of that size is zeroed page by page by the kernel.
    """

    def __init__(self, W, b, stride=1, pad=0, backprop_to_input=True):
        super().__init__(W, b, stride, pad, backprop_to_input)
        self.cols = None
        self.workspaces = {}

    def forward(self, x):
        out_h, out_w = self._output_size(x)
        self.input_shape = x.shape
        if self._by_shifted_rows():
            return self._forward_by_shifted_rows(x, out_h, out_w)
        return self._forward_by_bias_row(x, out_h, out_w)

    def backward(self, dout):
        if self._by_shifted_rows():
            return self._backward_by_shifted_rows(dout)
        return self._backward_by_bias_row(dout)

    def _by_shifted_rows(self):
        """Where the fully unfolded input, FH*FW times the input, costs more than the product; with one channel
        it is small, and unfold_batch is as fast."""
        FN, C, FH, FW = self.W.shape
        return self.stride == 1 and C > 1 and self.pad < min(FH, FW)

    def _forward_by_bias_row(self, x, out_h, out_w):
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        dtype = np.result_type(self.W, x)
        self.cols = np.empty((C * FH * FW + 1, N * out_h * out_w), dtype=dtype)
        self.cols[-1] = 1
        unfold_batch(x, FH, FW, self.stride, self.pad, out=self.cols[:-1])
        filters_and_bias = np.concatenate([self.W.reshape(FN, -1), self.b.reshape(FN, 1)], axis=1, dtype=dtype)
        return (filters_and_bias @ self.cols).reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)

    def _backward_by_bias_row(self, dout):
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

    def _forward_by_shifted_rows(self, x, out_h, out_w):
        """One product of the filters' rows, (fy, f) by (c, fx), with the input unfolded over the filter's
        columns (FW long copies per channel, `columns`) sums every window's channels and columns; add_row_shifts
        adds its FH blocks up, each shifted by its filter row, where the windows start. The window positions
        that straddle a row's or an image's end are computed and dropped."""
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


class FastPooling(Pooling):
    """Pooling through one strided view per window position, taken over the maps in the order of the input's
    memory: (C, N, H, W) after FastConvolution, whose output is its product's transposed view. Max pooling
    stacks the views into one contiguous slab per position, so that backward compares each with the maximum
    at memory speed; the first position holding the maximum takes the gradient, as np.argmax's would."""

    def __init__(self, pool_h, pool_w, stride=2, pad=0, mode="max"):
        super().__init__(pool_h, pool_w, stride, pad, mode)
        self.maps_swapped = False
        self.window_elements = None
        self.out = None

    def _window_views(self, padded, out_h, out_w):
        """For each position (i, j) in the window, in window order, the strided view of the padded input
        holding that element of every window: shape (N, C, out_h, out_w)."""
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
        self.maps_swapped = not x.flags.c_contiguous and x.transpose(1, 0, 2, 3).flags.c_contiguous
        views = self._window_views(self._padded(self._maps(x)), out_h, out_w)
        if self.mode == "avg":
            return np.ascontiguousarray(self._maps(sum(views) / (self.pool_h * self.pool_w)))
        self.window_elements = np.stack(tuple(views))  # (pool_h*pool_w, N, C, out_h, out_w), or C and N swapped
        self.out = self.window_elements.max(axis=0)
        # in image order (a quarter of the input's size), which the next layer, an Affine, reshapes without a copy
        return np.ascontiguousarray(self._maps(self.out))

    def backward(self, dout):
        dout = np.ascontiguousarray(self._maps(dout))
        N, C, H, W = self.input_shape
        if self.maps_swapped:
            N, C = C, N
        out_h, out_w = dout.shape[2:]
        p = self.pad
        tiles = p == 0 and self.pool_h == self.pool_w == self.stride and (out_h * self.stride, out_w * self.stride) \
            == (H, W)
        if tiles and self.mode == "max":
            dx = np.empty((N, C, H, W), dtype=dout.dtype)  # each element of dx is written once
        else:
            dx = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=dout.dtype)
        dx_views = self._window_views(dx, out_h, out_w)
        if self.mode == "avg":
            for dx_view in dx_views:
                dx_view += dout / (self.pool_h * self.pool_w)
        else:
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
