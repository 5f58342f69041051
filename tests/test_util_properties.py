"""Property tests over random shapes, strides and pads (hypothesis)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numpy_impl.fast_layers import FastConvolution, FastPooling
from numpy_impl.layers import Convolution, Pooling
from numpy_impl.shifted_rows import ShiftedRows
from numpy_impl.util import (
    col2im,
    col2im_by_fold,
    conv_output_size,
    fold,
    im2col,
    im2col_by_unfold,
    shuffle_dataset,
    smooth_curve,
    unfold,
    unfold_batch,
)
from parity.records import assert_close


@st.composite
def windows(draw):
    """(input shape, filter_h, filter_w, stride, pad) with the filter fitting the padded input."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    fh = draw(st.integers(1, H + 2 * pad))
    fw = draw(st.integers(1, W + 2 * pad))
    return (N, C, H, W), fh, fw, stride, pad


def direct_convolution(x, W, b, stride, pad):
    """Cross-correlation written as loops over output positions, the textbook definition."""
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    FN, _, FH, FW = W.shape
    out_h = conv_output_size(x.shape[2], FH, stride, pad)
    out_w = conv_output_size(x.shape[3], FW, stride, pad)
    out = np.empty((x.shape[0], FN, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = xp[:, :, i * stride:i * stride + FH, j * stride:j * stride + FW]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, W) + b
    return out


@settings(max_examples=60, deadline=None)
@given(windows(), st.integers(0, 2 ** 32 - 1))
def test_col2im_is_the_adjoint_of_im2col(window, seed):
    shape, fh, fw, stride, pad = window
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    for unfolding, folding in ((im2col, col2im), (im2col_by_unfold, col2im_by_fold)):
        col = unfolding(x, fh, fw, stride, pad)
        c = rng.standard_normal(col.shape)
        # <im2col(x), c> == <x, col2im(c)> for every x and c
        lhs, rhs = np.sum(col * c), np.sum(x * folding(c, shape, fh, fw, stride, pad))
        assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def assert_same_windows(window, seed, unfold_pair, reference_pair):
    """unfold_pair (unfold, fold) gives the arrays reference_pair gives, on random x and columns:
    the unfolded windows exactly, the folded images up to the order of their sums."""
    shape, fh, fw, stride, pad = window
    (unfold_, fold_), (reference_unfold, reference_fold) = unfold_pair, reference_pair
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    cols = unfold_(x, fh, fw, stride, pad)
    np.testing.assert_array_equal(cols, reference_unfold(x, fh, fw, stride, pad))
    c = rng.standard_normal(cols.shape)
    assert_close(fold_(c, shape, fh, fw, stride, pad), reference_fold(c, shape, fh, fw, stride, pad), "forward",
                 "fold")


def torch_unfold(x, fh, fw, stride, pad):
    import torch
    return torch.nn.functional.unfold(torch.from_numpy(x), (fh, fw), padding=pad, stride=stride).numpy()


def torch_fold(cols, shape, fh, fw, stride, pad):
    import torch
    return torch.nn.functional.fold(torch.from_numpy(cols), shape[2:], (fh, fw), padding=pad, stride=stride).numpy()


@settings(max_examples=60, deadline=None)
@given(windows(), st.integers(0, 2 ** 32 - 1))
def test_unfold_and_fold_equal_torchs(window, seed):
    assert_same_windows(window, seed, (unfold, fold), (torch_unfold, torch_fold))


def test_unfold_batch_writes_into_the_array_it_is_given_or_names_what_it_needs():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    buffer = np.full((3 * 3 * 2 + 1, 2 * 3 * 3), np.nan)
    target = buffer[:-1]
    assert unfold_batch(x, 3, 2, 1, 0, out=target) is target
    np.testing.assert_array_equal(buffer[:-1], unfold_batch(x, 3, 2))
    assert np.isnan(buffer[-1]).all()  # the row after them untouched
    with pytest.raises(ValueError, match=r"out must be a C-contiguous array of shape \(18, 18\); got shape \(19, 18\)"):
        unfold_batch(x, 3, 2, out=buffer)
    with pytest.raises(ValueError, match=r"got shape \(18, 18\), not C-contiguous"):
        unfold_batch(x, 3, 2, out=np.empty((18, 18)).T)


def test_fold_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"cols has shape \(2, 9, 4\); expected \(2, 9, 25\)"):
        fold(np.zeros((2, 9, 4)), (2, 1, 7, 7), 3, 3)


@pytest.mark.parametrize("convolution", [Convolution, FastConvolution])
@settings(max_examples=40, deadline=None)
@given(window=windows(), filters=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1))
def test_convolution_equals_the_direct_definition(convolution, window, filters, seed):
    shape, fh, fw, stride, pad = window
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    W, b = rng.standard_normal((filters, shape[1], fh, fw)), rng.standard_normal(filters)
    assert_close(convolution(W, b, stride, pad).forward(x), direct_convolution(x, W, b, stride, pad),
                 "forward", "convolution")


@st.composite
def stride_1_windows(draw):
    """windows() with stride 1 and more than one channel, mostly with pad < filter size: the shapes that take
    FastConvolution's shifted-rows path, and some that do not."""
    (N, C, H, W), fh, fw, _, pad = draw(windows())
    return (N, C + 1, H, W), fh, fw, 1, pad


def gradients_by_unfolding(x, W, dout, stride, pad):
    """(dx, dW, db) of a convolution from its definition on unfold's columns, image by image."""
    FN, C, FH, FW = W.shape
    cols = unfold(x, FH, FW, stride, pad)
    dout = dout.reshape(x.shape[0], FN, -1)
    dW = sum(dout[n] @ cols[n].T for n in range(x.shape[0])).reshape(W.shape)
    dx = fold(np.matmul(W.reshape(FN, -1).T, dout), x.shape, FH, FW, stride, pad)
    return dx, dW, dout.sum(axis=(0, 2))


@settings(max_examples=60, deadline=None)
@given(st.one_of(windows(), stride_1_windows()), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_convolution_gradients_equal_the_unfolded_definition_step_after_step(window, filters, seed):
    """Both of FastConvolution's paths (shifted rows, unfold_batch), three steps in a row: the second reuses the
    first's workspace, the third has one image more and replaces it."""
    shape, fh, fw, stride, pad = window
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((filters, shape[1], fh, fw)), rng.standard_normal(filters)
    conv = FastConvolution(W, b, stride, pad)
    for images in (shape[0], shape[0], shape[0] + 1):
        x = rng.standard_normal((images, *shape[1:]))
        assert_close(conv.forward(x), direct_convolution(x, W, b, stride, pad), "forward", "convolution")
        dout = rng.standard_normal(conv.forward(x).shape)
        dx = conv.backward(dout)
        for name, got, expected in zip(("dx", "dW", "db"), (dx, conv.dW, conv.db),
                                       gradients_by_unfolding(x, W, dout, stride, pad)):
            assert_close(got, expected, "forward", name)


@settings(max_examples=40, deadline=None)
@given(stride_1_windows(), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_the_shifted_rows_copies_and_adds_are_adjoint_pairs(window, filters, seed):
    """<A u, v> = <u, A^T v> for unfold_columns / fold_columns and add_row_shifts / shift_rows, the pairs that
    the forward and backward of FastConvolution's shifted-rows path are made of."""
    (N, C, H, W), fh, fw, _, pad = window
    assume(pad < min(fh, fw))
    layout = ShiftedRows(N, H, W, pad)
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((C, layout.columns))
    cols = rng.standard_normal((C * fw, layout.columns - fw + 1))
    unfolded = layout.unfold_columns(rows, fw, np.empty_like(cols))
    assert np.isclose(np.vdot(unfolded, cols), np.vdot(rows, layout.fold_columns(cols, fw)))
    blocks = rng.standard_normal((fh, filters, layout.columns))
    starts = rng.standard_normal((filters, layout.window_starts(fh, fw)))
    summed = layout.add_row_shifts(blocks, np.empty_like(starts))
    shifted = np.zeros_like(blocks)
    shifted[0, :, :starts.shape[1]] = starts
    assert np.isclose(np.vdot(summed, starts), np.vdot(blocks, layout.shift_rows(shifted)))


def test_the_shifted_rows_path_keeps_its_workspaces_and_only_for_its_shapes():
    rng = np.random.default_rng(0)
    conv = FastConvolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4), 1, 1)
    x = rng.standard_normal((2, 3, 6, 6))
    conv.backward(conv.forward(x))
    workspaces = dict(conv.workspaces)
    assert sorted(workspaces) == ["columns", "products"]
    conv.backward(conv.forward(x + 1))
    assert all(conv.workspaces[name] is workspaces[name] for name in workspaces)  # reused
    assert conv.cols is None  # the unfolded input itself is spent
    conv.forward(rng.standard_normal((3, 3, 6, 6)))
    for name, workspace in workspaces.items():
        assert conv.workspaces[name] is not workspace and conv.workspaces[name].shape[1] > workspace.shape[1]
    for other in (FastConvolution(conv.W, conv.b, 2, 1), FastConvolution(conv.W, conv.b, 1, 3),
                  FastConvolution(rng.standard_normal((4, 1, 3, 3)), conv.b, 1, 1)):
        other.backward(other.forward(rng.standard_normal((2, other.W.shape[1], 6, 6))))
        assert other.workspaces == {}  # stride 2, pad 3 >= 3, one channel: unfold_batch


@pytest.mark.parametrize("pooling", [Pooling, FastPooling])
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), pool=st.integers(1, 3), stride=st.integers(1, 3),
       out_h=st.integers(1, 3), out_w=st.integers(1, 3), left_h=st.integers(0, 2), left_w=st.integers(0, 2),
       seed=st.integers(0, 2 ** 32 - 1))
def test_pooling_equals_the_direct_definition(pooling, n, c, pool, stride, out_h, out_w, left_h, left_w, seed):
    # left_h and left_w rows and columns past the last window (fewer than the stride): the output drops them
    left_h, left_w = min(left_h, stride - 1), min(left_w, stride - 1)
    H, W = (out_h - 1) * stride + pool + left_h, (out_w - 1) * stride + pool + left_w
    x = np.random.default_rng(seed).standard_normal((n, c, H, W))
    for mode, reduce in (("max", np.max), ("avg", np.mean)):
        expected = np.empty((n, c, out_h, out_w))
        for i in range(out_h):
            for j in range(out_w):
                expected[:, :, i, j] = reduce(x[:, :, i * stride:i * stride + pool, j * stride:j * stride + pool],
                                              axis=(2, 3))
        assert_close(pooling(pool, pool, stride, mode=mode).forward(x), expected, "forward", mode)


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=60))
def test_smooth_curve_keeps_length_and_constants(values):
    assert len(smooth_curve(np.array(values))) == len(values)
    assert_close(smooth_curve(np.full(len(values), 3.0)), np.full(len(values), 3.0), "forward")


@settings(max_examples=60, deadline=None)
@given(windows(), st.integers(0, 2 ** 32 - 1))
def test_fast_im2col_and_col2im_equal_the_books(window, seed):
    assert_same_windows(window, seed, (im2col_by_unfold, col2im_by_fold), (im2col, col2im))


def test_shuffle_dataset_keeps_pairs_and_repeats_under_the_global_seed():
    x = np.arange(24.0).reshape(6, 1, 2, 2)  # sample i holds 4i .. 4i+3
    t = np.arange(6)
    saved = np.random.get_state()
    try:
        np.random.seed(5)
        shuffled_x, shuffled_t = shuffle_dataset(x, t)
        np.random.seed(5)
        again_x, again_t = shuffle_dataset(x, t)
    finally:
        np.random.set_state(saved)
    assert sorted(shuffled_t) == list(t) and not np.array_equal(shuffled_t, t)
    np.testing.assert_array_equal(shuffled_x[:, 0, 0, 0], 4 * shuffled_t)  # images travel with their labels
    np.testing.assert_array_equal(again_t, shuffled_t)
    np.testing.assert_array_equal(again_x, shuffled_x)
    rng_t = shuffle_dataset(x, t, rng=np.random.default_rng(5))[1]
    np.testing.assert_array_equal(rng_t, np.random.default_rng(5).permutation(6))
    with pytest.raises(ValueError, match="x has 6 samples but t has 5"):
        shuffle_dataset(x, t[:5])
