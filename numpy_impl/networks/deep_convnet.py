"""DeepConvNet of the book's chapter 8 (a VGG-like net):

    conv - relu - conv - relu - pool -
    conv - relu - conv - relu - pool -
    conv - relu - conv - relu - pool -
    affine - relu - dropout - affine - dropout - softmax
"""
import numpy as np

from dlfs_common.book_networks import DEEP_CONVNET_CONV_PARAMS
from dlfs_common.checks import (
    check_conv_param,
    check_dropout_ratio,
    check_input_dim,
    check_sizes,
)

from ..layers import Affine, Dropout, Relu
from .base import LayerNet, normal_init


class DeepConvNet(LayerNet):
    """Six 3x3 convolutions with He initialisation, three 2x2 max poolings,
    two affine layers with dropout. Params W1..W8, b1..b8.

    dropout_ratio (0.5 in the book, fixed there) is a constructor argument here
    so the network can be run without dropout, e.g. to check gradients.
    The loss is taken in training mode, as the book does. rng, if given, draws the weights
    and the dropout masks.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=DEEP_CONVNET_CONV_PARAMS[0], conv_param_2=DEEP_CONVNET_CONV_PARAMS[1],
                 conv_param_3=DEEP_CONVNET_CONV_PARAMS[2], conv_param_4=DEEP_CONVNET_CONV_PARAMS[3],
                 conv_param_5=DEEP_CONVNET_CONV_PARAMS[4], conv_param_6=DEEP_CONVNET_CONV_PARAMS[5],
                 hidden_size=50, output_size=10, dropout_ratio=0.5, dtype=np.float64, rng=None,
                 fast=True):
        super().__init__(dtype, fast)
        input_dim = check_input_dim("DeepConvNet", input_dim)
        conv_params = [check_conv_param("DeepConvNet", f"conv_param_{idx}", conv_param)
                       for idx, conv_param in enumerate([conv_param_1, conv_param_2, conv_param_3, conv_param_4,
                                                         conv_param_5, conv_param_6], start=1)]
        check_sizes("DeepConvNet", hidden_size=hidden_size, output_size=output_size)
        check_dropout_ratio("dropout_ratio", dropout_ratio)
        channels, height, width = self.add_conv_blocks("DeepConvNet", input_dim, conv_params, {2, 4, 6}, "he", rng)
        for idx, (fan_in, fan_out) in ((7, (channels * height * width, hidden_size)),
                                       (8, (hidden_size, output_size))):
            self.params[f"W{idx}"] = normal_init((fan_in, fan_out), np.sqrt(2.0 / fan_in), self.dtype, rng)
            self.params[f"b{idx}"] = np.zeros(fan_out, dtype=self.dtype)
        self.layers.update([("Affine1", Affine(self.params["W7"], self.params["b7"])),
                            ("Relu7", Relu()),
                            ("Dropout1", Dropout(dropout_ratio, rng=rng)),
                            ("Affine2", Affine(self.params["W8"], self.params["b8"])),
                            ("Dropout2", Dropout(dropout_ratio, rng=rng))])

    def loss(self, x, t, train_flg=True):
        return super().loss(x, t, train_flg)
