"""Stride-1 windows as shifted rows: the layout behind Convolution's fast path.

Lay a batch of images (N, C, H, W) out one row per channel, each image row
preceded by `pad` zeros and each image by `pad` rows of zeros (the zeros
before one row, or one image, are also the padding after the one before it),
with pad zeros rows and columns after the last image:

    channel c:  [pad rows of 0] [0*pad, row 0] [0*pad, row 1] ... | next image ...

Element (fy, fx) of the stride-1 window whose output is at column j is then
column j + fy*row + fx, where row = W + pad: each filter position's elements
of every window are the whole array shifted by one constant. Unfolding is one
long copy per filter position and folding one long add, where unfold and fold
(util.py) copy rows only out_w long, so that NumPy's per-row overhead bounds
them. The price: the window positions that straddle a row's or an image's end
(FW - 1 - pad columns per row, FH - 1 - pad rows per image) are computed and
dropped. The layout needs pad <= FH - 1 and pad <= FW - 1, so that no output
lies entirely in the padding; Convolution uses unfold_batch otherwise.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShiftedRows:
    """The layout of N images of H x W pixels padded by `pad`: where each pixel and each output lives."""

    images: int
    height: int
    width: int
    pad: int

    @property
    def row(self):
        return self.width + self.pad

    @property
    def image(self):
        return (self.height + self.pad) * self.row

    @property
    def columns(self):
        return self.images * self.image + self.pad * self.row + self.pad

    def window_starts(self, filter_h, filter_w):
        """How many columns start a window that stays inside the array: those of every output, and the
        straddling ones."""
        return self.columns - (filter_h - 1) * self.row - (filter_w - 1)

    def to_rows(self, images, dtype=None):
        """images (N, C, H, W) laid out: a new array (C, columns) of dtype (images' by default)."""
        rows = np.zeros((images.shape[1], self.columns), dtype=dtype or images.dtype)
        self.grid(rows)[:, :, self.pad:, self.pad:] = images.transpose(1, 0, 2, 3)
        return rows

    def outputs_to_rows(self, dout, dtype=None):
        """dout (N, F, out_h, out_w) at the columns of their windows' starts, zeros elsewhere: (F, columns)."""
        out_h, out_w = dout.shape[2:]
        rows = np.zeros((dout.shape[1], self.columns), dtype=dtype or dout.dtype)
        self.grid(rows)[:, :, :out_h, :out_w] = dout.transpose(1, 0, 2, 3)
        return rows

    def grid(self, rows):
        """A view (C, N, H + pad, W + pad) of rows' first N images."""
        return rows[:, :self.images * self.image].reshape(rows.shape[0], self.images, self.height + self.pad,
                                                          self.row)

    def rows_to_images(self, rows, top, left, height, width, add=0):
        """The (height, width) part at (top, left) of each image's grid in rows, plus `add` (a bias of shape
        (C, 1, 1), say) in the same pass: a new array (N, C, height, width). Outputs are at (0, 0), the
        pixels at (pad, pad)."""
        part = self.grid(rows)[:, :, top:top + height, left:left + width]
        out = np.empty((self.images, rows.shape[0], height, width), dtype=rows.dtype)
        return np.add(part.transpose(1, 0, 2, 3), add, out=out)

    def unfold(self, rows, filter_h, filter_w, out):
        """unfold's columns for every window start, written into out (C*filter_h*filter_w, window_starts):
        row (c, fy, fx) is row c of `rows` shifted left by fy*row + fx. One long copy per filter position."""
        starts = out.shape[1]
        windows = out.reshape(rows.shape[0], filter_h * filter_w, starts)
        for fy in range(filter_h):
            for fx in range(filter_w):
                shift = fy * self.row + fx
                windows[:, fy * filter_w + fx] = rows[:, shift:shift + starts]
        return out

    def fold(self, cols, filter_h, filter_w):
        """The adjoint of unfold: cols (C*filter_h*filter_w, window_starts) added back into new rows
        (C, columns), row (c, fy, fx) shifted right by fy*row + fx. One long add per filter position."""
        starts = cols.shape[1]
        windows = cols.reshape(-1, filter_h * filter_w, starts)
        rows = np.zeros((windows.shape[0], self.columns), dtype=cols.dtype)
        for fy in range(filter_h):
            for fx in range(filter_w):
                shift = fy * self.row + fx
                rows[:, shift:shift + starts] += windows[:, fy * filter_w + fx]
        return rows
