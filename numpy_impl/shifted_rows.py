"""Stride-1 windows as shifted rows: the layout behind Convolution's fast path.

Lay a batch of images (N, C, H, W) out one row per channel, each image row
preceded by `pad` zeros and each image by `pad` rows of zeros (the zeros
before one row, or one image, are also the padding after the one before it),
with pad zeros rows and columns after the last image:

    channel c:  [pad rows of 0] [0*pad, row 0] [0*pad, row 1] ... | next image ...

Element (fy, fx) of the stride-1 window whose output is at column j is then
column j + fy*row + fx, where row = W + pad: each filter position's elements
of every window are the whole array shifted by one constant. A convolution
needs no window copied out one by one. unfold_columns copies each channel
once per filter column, shifted by fx (one long copy each); one matrix product
with the filters' rows, (fy, f) by (c, fx), sums over the channels and filter
columns; add_row_shifts sums its filter_h blocks, shifted by fy*row (one long
add each). Backward runs the adjoints: shift_rows, two products, fold_columns.
The copies and adds are whole rows, where unfold and fold (util.py) copy rows
only out_w long, so that NumPy's per-row overhead bounds them. The price: the
window positions that straddle a row's or an image's end (FW - 1 - pad columns
per row, FH - 1 - pad rows per image) are computed and dropped. The layout
needs pad <= FH - 1 and pad <= FW - 1, so that no output lies entirely in the
padding; Convolution uses unfold_batch otherwise.
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

    def outputs_to_rows(self, dout, out):
        """dout (N, F, out_h, out_w) written into out (F, columns) at the columns of their windows' starts, zeros
        elsewhere."""
        out_h, out_w = dout.shape[2:]
        out[...] = 0
        self.grid(out)[:, :, :out_h, :out_w] = dout.transpose(1, 0, 2, 3)
        return out

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

    def unfold_columns(self, rows, filter_w, out):
        """rows (C, columns) unfolded over a filter's columns, written into out (C*filter_w, columns - filter_w + 1):
        row (c, fx) is row c shifted left by fx. One long copy per channel block and filter column."""
        length = out.shape[1]
        per_column = out.reshape(rows.shape[0], filter_w, length)
        for fx in range(filter_w):
            per_column[:, fx] = rows[:, fx:fx + length]
        return out

    def fold_columns(self, cols, filter_w):
        """The adjoint of unfold_columns: cols (C*filter_w, length) added back into new rows (C, columns), row
        (c, fx) shifted right by fx."""
        length = cols.shape[1]
        per_column = cols.reshape(-1, filter_w, length)
        rows = np.zeros((per_column.shape[0], self.columns), dtype=cols.dtype)
        for fx in range(filter_w):
            rows[:, fx:fx + length] += per_column[:, fx]
        return rows

    def add_row_shifts(self, blocks, out):
        """out (F, starts) = the sum over fy of blocks[fy] (blocks: filter_h, F, columns) shifted left by fy*row:
        the products of each filter row, added up where their windows start."""
        starts = out.shape[1]
        np.copyto(out, blocks[0, :, :starts])
        for fy in range(1, blocks.shape[0]):
            out += blocks[fy, :, fy * self.row:fy * self.row + starts]
        return out

    def shift_rows(self, blocks):
        """The adjoint of add_row_shifts, in place: blocks[fy] (F, columns) = blocks[0] shifted right by fy*row,
        zeros before it."""
        columns = blocks.shape[2]
        for fy in range(1, blocks.shape[0]):
            shift = fy * self.row
            blocks[fy, :, :shift] = 0
            blocks[fy, :, shift:] = blocks[0, :, :columns - shift]
        return blocks
