"""SimpleConvNet of the book's chapter 7:
Convolution - Relu - Pooling - Affine - Relu - Affine - SoftmaxWithLoss."""
import numpy as np

from ..layers import Affine, Convolution, Pooling, Relu
from ..util import conv_output_size
from .base import LayerNet, normal_init


def pooled_size(input_dim, conv_param):
    """The number of features after the convolution and the 2x2 pooling, checking the pooling tiles."""
    _, height, width = input_dim
    fs, pad, stride = conv_param["filter_size"], conv_param.get("pad", 0), conv_param.get("stride", 1)
    conv_h, conv_w = conv_output_size(height, fs, stride, pad), conv_output_size(width, fs, stride, pad)
    if conv_h < 2 or conv_w < 2 or conv_h % 2 or conv_w % 2:
        raise ValueError(
            f"conv_param {conv_param} on input {input_dim} gives a {conv_h}x{conv_w} feature map; "
            "the 2x2 pooling with stride 2 needs even sides of at least 2"
        )
    return conv_param["filter_num"] * (conv_h // 2) * (conv_w // 2)


class SimpleConvNet(LayerNet):
    """input_dim (C, H, W); conv_param {'filter_num', 'filter_size', 'pad', 'stride'};
    2x2 max pooling with stride 2; weights weight_init_std * N(0, 1).
    Params: W1 (filter_num, C, fs, fs), b1, W2, b2, W3, b3.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=np.float64, rng=None):
        super().__init__(dtype)
        filter_num = conv_param["filter_num"]
        filter_size = conv_param["filter_size"]
        pad = conv_param.get("pad", 0)
        stride = conv_param.get("stride", 1)
        channels = input_dim[0]
        pool_output_size = pooled_size(input_dim, conv_param)

        self.params["W1"] = normal_init((filter_num, channels, filter_size, filter_size),
                                        weight_init_std, self.dtype, rng)
        self.params["b1"] = np.zeros(filter_num, dtype=self.dtype)
        self.params["W2"] = normal_init((pool_output_size, hidden_size), weight_init_std, self.dtype, rng)
        self.params["b2"] = np.zeros(hidden_size, dtype=self.dtype)
        self.params["W3"] = normal_init((hidden_size, output_size), weight_init_std, self.dtype, rng)
        self.params["b3"] = np.zeros(output_size, dtype=self.dtype)

        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"], stride, pad,
                                           backprop_to_input=False)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.grad_sources = {"W1": ("Conv1", "dW"), "b1": ("Conv1", "db"),
                             "W2": ("Affine1", "dW"), "b2": ("Affine1", "db"),
                             "W3": ("Affine2", "dW"), "b3": ("Affine2", "db")}
