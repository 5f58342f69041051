"""Helpers of the book (common/util.py): im2col/col2im, curve smoothing, shuffling.

`im2col`/`col2im` are the book's loops over filter positions, which the reference layers use; the fast
kernels unfold windows with `unfold`/`fold`, in the layout of torch's F.unfold/F.fold.
`im2col_by_unfold`/`col2im_by_fold` give im2col's and col2im's arrays through them (tests check they are
equal).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlfs_common.checks import check_integer


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution or pooling window sliding over one axis.

    The book returns a float here; the integer (floor) is what every caller
    needs, and what PyTorch computes.
    """
    return (input_size + 2 * pad - filter_size) // stride + 1


def check_window(input_shape, filter_h, filter_w, stride, pad, what="filter"):
    """Validate a (filter_h, filter_w) window over a 4-D input shape (N, C, H, W).

    Returns (out_h, out_w). Raises ValueError naming the offending value.
    """
    if len(input_shape) != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W); got shape {tuple(input_shape)}")
    check_integer(what, "stride", stride, 1)
    check_integer(what, "pad", pad, 0)
    _, _, H, W = input_shape
    if filter_h > H + 2 * pad or filter_w > W + 2 * pad:
        raise ValueError(
            f"{what} {filter_h}x{filter_w} is larger than the padded input "
            f"{H + 2 * pad}x{W + 2 * pad} (input {H}x{W}, pad {pad})"
        )
    return conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)


def unfold(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Every filter window of each image as a column: the layout of torch's F.unfold.

    input_data: (N, C, H, W). Returns (N, C*filter_h*filter_w, out_h*out_w),
    rows ordered (c, fy, fx), columns (y, x). A convolution is then one matrix
    product per image, W.reshape(FN, -1) @ cols[n], whose result is already in
    (FN, out_h, out_w) order. The windows are a strided view of the (padded)
    images; the final reshape is the only copy.
    """
    N, C = input_data.shape[:2]
    windows, (out_h, out_w) = window_view(input_data, filter_h, filter_w, stride, pad)
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * filter_h * filter_w, out_h * out_w)


def unfold_batch(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0,
                 out: np.ndarray | None = None) -> np.ndarray:
    """unfold's columns of every image side by side: (C*filter_h*filter_w, N*out_h*out_w), image after image,
    so that a convolution of the whole batch is one matrix product, with its result in (FN, N, out_h, out_w)
    order. unfold(x)[n] is unfold_batch(x)[:, n*out_h*out_w:(n+1)*out_h*out_w].

    out: a C-contiguous array of that shape to write them into (returned), instead of a new one."""
    N, C = input_data.shape[:2]
    windows, (out_h, out_w) = window_view(input_data, filter_h, filter_w, stride, pad)
    columns = windows.transpose(1, 4, 5, 0, 2, 3)
    shape = (C * filter_h * filter_w, N * out_h * out_w)
    if out is None:
        return columns.reshape(shape)
    if out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"unfold_batch: out must be a C-contiguous array of shape {shape}; got shape {out.shape}"
                         f"{'' if out.flags.c_contiguous else ', not C-contiguous'}")
    out.reshape(columns.shape)[...] = columns
    return out


def window_view(input_data, filter_h, filter_w, stride=1, pad=0):
    """(a strided view (N, C, out_h, out_w, filter_h, filter_w) of every window of the padded images,
    (out_h, out_w))."""
    out_h, out_w = check_window(input_data.shape, filter_h, filter_w, stride, pad)
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant") if pad else input_data
    windows = sliding_window_view(img, (filter_h, filter_w), axis=(2, 3))  # (N, C, H', W', fh, fw)
    return windows[:, :, :stride * (out_h - 1) + 1:stride, :stride * (out_w - 1) + 1:stride], (out_h, out_w)


def fold(cols: np.ndarray, input_shape: tuple, filter_h: int, filter_w: int, stride: int = 1,
         pad: int = 0) -> np.ndarray:
    """The adjoint of unfold (torch's F.fold): add every window column back into its image.

    cols: (N, C*filter_h*filter_w, out_h*out_w). Returns an array of input_shape.
    Windows that tile exactly (stride == filter size) are written with one
    reshape; otherwise one strided add per filter position, as the book's col2im.
    """
    N, C, H, W = input_shape
    out_h, out_w = check_window(input_shape, filter_h, filter_w, stride, pad)
    expected = (N, C * filter_h * filter_w, out_h * out_w)
    if cols.shape != expected:
        raise ValueError(f"cols has shape {cols.shape}; expected {expected} for input {tuple(input_shape)}")
    windows = cols.reshape(N, C, filter_h, filter_w, out_h, out_w)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=cols.dtype)
    if stride == filter_h and stride == filter_w:
        tiled = windows.transpose(0, 1, 4, 2, 5, 3).reshape(N, C, out_h * filter_h, out_w * filter_w)
        img[:, :, :out_h * filter_h, :out_w * filter_w] = tiled
    else:
        for y in range(filter_h):
            y_max = y + stride * out_h
            for x in range(filter_w):
                x_max = x + stride * out_w
                img[:, :, y:y_max:stride, x:x_max:stride] += windows[:, :, y, x]
    return img[:, :, pad:H + pad, pad:W + pad]


def im2col_by_unfold(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1,
                     pad: int = 0) -> np.ndarray:
    """im2col's array through unfold: unfold's columns as rows, the batch flattened."""
    cols = unfold(input_data, filter_h, filter_w, stride, pad)
    return cols.transpose(0, 2, 1).reshape(-1, cols.shape[1])


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """The book's layout of the windows, as the book computes it (one strided copy per filter position): one row
    per window, rows ordered (n, y, x), columns (c, fy, fx); shape (N*out_h*out_w, C*filter_h*filter_w)."""
    N, C, H, W = input_data.shape
    out_h, out_w = check_window(input_data.shape, filter_h, filter_w, stride, pad)
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im_by_fold(col: np.ndarray, input_shape: tuple, filter_h: int, filter_w: int, stride: int = 1,
                   pad: int = 0) -> np.ndarray:
    """col2im's array through fold."""
    N, C, H, W = input_shape
    out_h, out_w = check_window(input_shape, filter_h, filter_w, stride, pad)
    expected = (N * out_h * out_w, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col has shape {col.shape}; expected {expected} for input {tuple(input_shape)}")
    cols = col.reshape(N, out_h * out_w, -1).transpose(0, 2, 1)
    return fold(cols, input_shape, filter_h, filter_w, stride, pad)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col, as the book computes it (one strided add per filter position): col
    (N*out_h*out_w, C*filter_h*filter_w) added back into images of input_shape."""
    N, C, H, W = input_shape
    out_h, out_w = check_window(input_shape, filter_h, filter_w, stride, pad)
    expected = (N * out_h * out_w, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col has shape {col.shape}; expected {expected} for input {tuple(input_shape)}")
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


def smooth_curve(x: np.ndarray) -> np.ndarray:
    """Smooth a loss curve with an 11-point Kaiser window, as the book's figures do.

    The ends are mirrored, so the result is as long as x. Curves shorter than
    the window get the longest odd window that fits (the book's code returns a
    shorter or empty array for them).
    """
    x = np.asarray(x)
    if len(x) == 0:
        return x.copy()
    window_len = min(11, len(x) - (1 - len(x) % 2))
    half = window_len // 2
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[half:len(y) - half]


def shuffle_dataset(x: np.ndarray, t: np.ndarray, rng: np.random.Generator | None = None) -> tuple:
    """Shuffle samples x and labels t along the first axis with one permutation, drawn from `rng` (a numpy
    Generator) or, as in the book, from NumPy's global state (so np.random.seed repeats it)."""
    if len(x) != len(t):
        raise ValueError(f"x has {len(x)} samples but t has {len(t)}")
    permutation = np.random.permutation(len(x)) if rng is None else rng.permutation(len(x))
    return x[permutation], t[permutation]
