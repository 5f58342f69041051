"""SimpleConvNet of the book's chapter 7:
Convolution - Relu - Pooling - Affine - Relu - Affine - SoftmaxWithLoss."""
import numpy as np

from dlfs_common.book_networks import SIMPLE_CONVNET_CONV_PARAM
from dlfs_common.checks import (
    check_conv_param,
    check_filter_fits,
    check_input_dim,
    check_pooling_input,
    check_sizes,
)

from ..layers import Affine, Relu
from ..util import conv_output_size
from .base import LayerNet, init_scale, normal_init


class SimpleConvNet(LayerNet):
    """input_dim (C, H, W); conv_param {'filter_num', 'filter_size', 'pad', 'stride'};
    2x2 max pooling with stride 2; weights weight_init_std * N(0, 1). fast: LayerNet's.
    Params: W1 (filter_num, C, fs, fs), b1, W2, b2, W3, b3.
    """

    def __init__(self, input_dim=(1, 28, 28), conv_param=SIMPLE_CONVNET_CONV_PARAM,
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=np.float64, rng=None,
                 fast=True):
        super().__init__(dtype, fast)
        input_dim = check_input_dim("SimpleConvNet", input_dim)
        filter_num, filter_size, pad, stride = check_conv_param("SimpleConvNet", "conv_param", conv_param)
        check_sizes("SimpleConvNet", hidden_size=hidden_size, output_size=output_size)
        channels, height, width = input_dim
        check_filter_fits("SimpleConvNet", input_dim, "the convolution", height, width, filter_size, pad)
        conv_h = conv_output_size(height, filter_size, stride, pad)
        conv_w = conv_output_size(width, filter_size, stride, pad)
        check_pooling_input("SimpleConvNet", input_dim, 1, conv_h, conv_w)
        pool_output_size = filter_num * (conv_h // 2) * (conv_w // 2)

        self.params["W1"] = normal_init((filter_num, channels, filter_size, filter_size),
                                        init_scale(weight_init_std, channels * filter_size ** 2), self.dtype, rng)
        self.params["b1"] = np.zeros(filter_num, dtype=self.dtype)
        self.params["W2"] = normal_init((pool_output_size, hidden_size),
                                        init_scale(weight_init_std, pool_output_size), self.dtype, rng)
        self.params["b2"] = np.zeros(hidden_size, dtype=self.dtype)
        self.params["W3"] = normal_init((hidden_size, output_size),
                                        init_scale(weight_init_std, hidden_size), self.dtype, rng)
        self.params["b3"] = np.zeros(output_size, dtype=self.dtype)

        self.layers["Conv1"] = self.convolution(self.params["W1"], self.params["b1"], stride, pad,
                                                backprop_to_input=False)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = self.pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
