"""DoubleConvNet: two convolution blocks, then SimpleConvNet's affine layers. Not the book's: courses built on
the book use it between SimpleConvNet and DeepConvNet.

    conv - relu - pool - conv - relu - pool - affine - relu - affine - softmax
"""
import numpy as np

from dlfs_common.book_networks import DOUBLE_CONVNET_CONV_PARAMS
from dlfs_common.checks import (
    check_conv_param,
    check_input_dim,
    check_sizes,
)

from ..layers import Affine, Relu
from .base import LayerNet, init_scale, normal_init


class DoubleConvNet(LayerNet):
    """input_dim (C, H, W); conv_param_1 and conv_param_2 as the book's conv_param; 2x2 max pooling with stride 2
    after each convolution; hidden_size units before the output; weights 'he' (sqrt(2/fan_in)) by default, or
    weight_init_std as MultiLayerNet takes it. Params W1, b1 (first convolution), W2, b2, W3, b3, W4, b4."""

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=DOUBLE_CONVNET_CONV_PARAMS[0],
                 conv_param_2=DOUBLE_CONVNET_CONV_PARAMS[1], hidden_size=100, output_size=10, weight_init_std="he",
                 dtype=np.float64, rng=None,
                 fast=True):
        super().__init__(dtype, fast)
        input_dim = check_input_dim("DoubleConvNet", input_dim)
        conv_params = [check_conv_param("DoubleConvNet", f"conv_param_{idx}", conv_param)
                       for idx, conv_param in enumerate([conv_param_1, conv_param_2], start=1)]
        check_sizes("DoubleConvNet", hidden_size=hidden_size, output_size=output_size)
        channels, height, width = self.add_conv_blocks("DoubleConvNet", input_dim, conv_params, {1, 2},
                                                       weight_init_std, rng)
        for idx, (fan_in, fan_out) in ((3, (channels * height * width, hidden_size)), (4, (hidden_size, output_size))):
            self.params[f"W{idx}"] = normal_init((fan_in, fan_out), init_scale(weight_init_std, fan_in), self.dtype,
                                                 rng)
            self.params[f"b{idx}"] = np.zeros(fan_out, dtype=self.dtype)
        self.layers["Affine1"] = Affine(self.params["W3"], self.params["b3"])
        self.layers["Relu3"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W4"], self.params["b4"])
