"""The fast kernels (numpy_impl.fast_layers) against the reference layers (numpy_impl.layers): the same outputs
and gradients, float64 to rounding, float32 within the usual tolerance, over random shapes, strides and pads
(windows that tile the input and windows that do not), in the two memory orders a layer is given, and in the
book's networks, whose fast kernels also run a ReLU after the max pooling that follows it."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_util_properties import stride_1_windows, windows

from numpy_impl.fast_layers import FastConvolution, FastPooling
from numpy_impl.layers import Convolution, Pooling
from numpy_impl.networks import DeepConvNet, DoubleConvNet, SimpleConvNet
from parity.records import assert_all_close, assert_close

DTYPES = ["float64", "float32"]


def channels_outer(x):
    """x's values in (C, N, H, W) memory order, as a view (N, C, H, W): FastConvolution's output layout."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def forward_and_backward(layer, x, dout_seed):
    out = layer.forward(x)
    dout = np.random.default_rng(dout_seed).standard_normal(out.shape).astype(out.dtype)
    return out, layer.backward(dout)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=50, deadline=None)
@given(window=st.one_of(windows(), stride_1_windows()), filters=st.integers(1, 3), first_layer=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_fast_convolution_equals_the_reference(dtype, window, filters, first_layer, seed):
    shape, fh, fw, stride, pad = window
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    W = rng.standard_normal((filters, shape[1], fh, fw)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype)
    reference = Convolution(W, b, stride, pad, backprop_to_input=not first_layer)
    fast = FastConvolution(W, b, stride, pad, backprop_to_input=not first_layer)
    for step in range(2):  # the second reuses the fast layer's workspaces
        out, dx = forward_and_backward(reference, x + step, seed)
        fast_out, fast_dx = forward_and_backward(fast, x + step, seed)
        assert fast_out.dtype == out.dtype == np.dtype(dtype)
        assert_close(fast_out, out, "forward", "forward", dtype)
        if first_layer:
            assert dx is None and fast_dx is None
        else:
            assert_close(fast_dx, dx, "grad", "dx", dtype)
        assert_close(fast.dW, reference.dW, "grad", "dW", dtype)
        assert_close(fast.db, reference.db, "grad", "db", dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), pool=st.integers(1, 3), stride=st.integers(1, 3),
       pad=st.integers(0, 1), H=st.integers(1, 9), W=st.integers(1, 9), mode=st.sampled_from(["max", "avg"]),
       with_ties=st.booleans(), channels_first=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_fast_pooling_equals_the_reference(dtype, n, c, pool, stride, pad, H, W, mode, with_ties, channels_first,
                                           seed):
    H, W, pad = max(H, pool), max(W, pool), min(pad, pool // 2)  # the window fits; pads as torch allows them
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (n, c, H, W)) if with_ties else rng.standard_normal((n, c, H, W))
    x = x.astype(dtype)
    given_x = channels_outer(x) if channels_first else x
    out, dx = forward_and_backward(Pooling(pool, pool, stride, pad, mode), x, seed)
    fast_out, fast_dx = forward_and_backward(FastPooling(pool, pool, stride, pad, mode), given_x, seed)
    assert fast_dx.shape == dx.shape == x.shape and fast_dx.dtype == dx.dtype == np.dtype(dtype)
    if mode == "max":  # a maximum is exact, and the gradient goes to the same element (the first maximum)
        np.testing.assert_array_equal(fast_out, out)
        np.testing.assert_array_equal(fast_dx, dx)
    else:  # the same sums in another order
        assert_close(fast_out, out, "forward", "forward", dtype)
        assert_close(fast_dx, dx, "grad", "dx", dtype)


NETWORKS = {
    "SimpleConvNet": lambda dtype, fast: SimpleConvNet(dtype=dtype, fast=fast, rng=np.random.default_rng(1)),
    "SimpleConvNet[odd map]": lambda dtype, fast: SimpleConvNet(
        (2, 13, 11), {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}, hidden_size=7, output_size=3,
        dtype=dtype, fast=fast, rng=np.random.default_rng(1)),
    "DoubleConvNet": lambda dtype, fast: DoubleConvNet(dtype=dtype, fast=fast, rng=np.random.default_rng(1)),
    "DeepConvNet": lambda dtype, fast: DeepConvNet(dropout_ratio=0, dtype=dtype, fast=fast,
                                                   rng=np.random.default_rng(1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NETWORKS)
def test_fast_networks_compute_the_reference_networks_scores_and_gradients(name, dtype):
    fast, reference = NETWORKS[name](dtype, True), NETWORKS[name](dtype, False)
    assert {type(layer) for layer in fast.layers.values()} & {FastConvolution, FastPooling}
    assert not {type(layer) for layer in reference.layers.values()} & {FastConvolution, FastPooling}
    input_shape = fast.layers["Conv1"].W.shape[1:2] + ((13, 11) if "odd" in name else (28, 28))
    rng = np.random.default_rng(5)
    x, t = rng.random((4, *input_shape)).astype(dtype), rng.integers(0, fast.output_size, 4)
    assert_close(fast.predict(x), reference.predict(x), "forward", "scores", dtype)
    assert_all_close(fast.gradient(x, t), reference.gradient(x, t), "grad", name, dtype)


def test_a_network_switches_its_kernels_in_place_on_the_same_parameters():
    net = DeepConvNet(dropout_ratio=0, rng=np.random.default_rng(1))
    fast_layers = dict(net.layers)
    assert net.use_fast_kernels(False) is net and net.fast is False
    for name, layer in net.layers.items():
        assert type(layer) not in (FastConvolution, FastPooling)
        if isinstance(layer, Convolution):
            assert layer.W is net.params[f"W{name[4:]}"] and layer.stride == fast_layers[name].stride
            assert layer.backprop_to_input == fast_layers[name].backprop_to_input
    assert type(net.use_fast_kernels(True).layers["Pool1"]) is FastPooling
    with pytest.raises(ValueError, match="fast must be True or False; got 'no'"):
        net.use_fast_kernels("no")
