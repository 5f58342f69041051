"""DoubleConvNet: (Conv2d - ReLU - MaxPool2d) x 2, Linear - ReLU - Linear. Not the book's (see numpy_impl's)."""
from torch import nn

from dlfs_common.book_networks import DOUBLE_CONVNET_CONV_PARAMS
from dlfs_common.checks import (
    check_conv_param,
    check_input_dim,
    check_sizes,
)

from .base import BookNet, conv_blocks, output_shape


class DoubleConvNet(BookNet):
    """The arguments of numpy_impl.networks.DoubleConvNet; each layer's input shape from a dry run of the
    layers before it."""

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=DOUBLE_CONVNET_CONV_PARAMS[0],
                 conv_param_2=DOUBLE_CONVNET_CONV_PARAMS[1], hidden_size=100, output_size=10, weight_init_std="he",
                 dtype=None, device=None):
        input_dim = check_input_dim("DoubleConvNet", input_dim)
        super().__init__(input_dim)
        conv_params = [check_conv_param("DoubleConvNet", f"conv_param_{idx}", conv_param)
                       for idx, conv_param in enumerate([conv_param_1, conv_param_2], start=1)]
        check_sizes("DoubleConvNet", hidden_size=hidden_size, output_size=output_size)
        self.weight_init_std = weight_init_std
        factory = {"dtype": dtype, "device": device}
        layers, shape = conv_blocks("DoubleConvNet", input_dim, conv_params, {1, 2}, factory)
        layers.append(nn.Flatten())
        (flat_size,) = output_shape(layers[-1], shape)
        layers += [nn.Linear(flat_size, hidden_size, **factory), nn.ReLU(),
                   nn.Linear(hidden_size, output_size, **factory)]
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
