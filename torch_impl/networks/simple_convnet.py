"""SimpleConvNet: Conv2d - ReLU - MaxPool2d - Linear - ReLU - Linear."""
from torch import nn

from dlfs_common.book_networks import SIMPLE_CONVNET_CONV_PARAM
from dlfs_common.checks import (
    check_conv_param,
    check_filter_fits,
    check_input_dim,
    check_pooling_input,
    check_sizes,
)

from .base import BookNet, output_shape


class SimpleConvNet(BookNet):
    """input_dim (C, H, W); conv_param {'filter_num', 'filter_size', 'pad', 'stride'};
    2x2 max pooling with stride 2; all weights N(0, weight_init_std**2). The size of the
    first Linear layer's input is the shape the convolution and pooling give (a dry run)."""

    def __init__(self, input_dim=(1, 28, 28), conv_param=SIMPLE_CONVNET_CONV_PARAM,
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=None, device=None):
        input_dim = check_input_dim("SimpleConvNet", input_dim)
        super().__init__(input_dim)
        filter_num, filter_size, pad, stride = check_conv_param("SimpleConvNet", "conv_param", conv_param)
        check_sizes("SimpleConvNet", hidden_size=hidden_size, output_size=output_size)
        check_filter_fits("SimpleConvNet", input_dim, "the convolution", *input_dim[1:], filter_size, pad)
        self.weight_init_std = weight_init_std
        factory = {"dtype": dtype, "device": device}
        conv = nn.Conv2d(input_dim[0], filter_num, filter_size, stride=stride, padding=pad, **factory)
        check_pooling_input("SimpleConvNet", input_dim, 1, *output_shape(conv, input_dim)[1:])
        features = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.Flatten())
        (flat_size,) = output_shape(features, input_dim)
        self.layers = nn.Sequential(
            *features,
            nn.Linear(flat_size, hidden_size, **factory),
            nn.ReLU(),
            nn.Linear(hidden_size, output_size, **factory),
        )
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
