"""SimpleConvNet: Conv2d - ReLU - MaxPool2d - Linear - ReLU - Linear."""
from torch import nn

from numpy_impl.networks.simple_convnet import pooled_size

from .base import BookNet


class SimpleConvNet(BookNet):
    """input_dim (C, H, W); conv_param {'filter_num', 'filter_size', 'pad', 'stride'};
    2x2 max pooling with stride 2; all weights N(0, weight_init_std**2)."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=None, device=None):
        super().__init__(input_dim)
        filter_num, filter_size = conv_param["filter_num"], conv_param["filter_size"]
        pad, stride = conv_param.get("pad", 0), conv_param.get("stride", 1)
        channels = input_dim[0]
        features = pooled_size(input_dim, conv_param)
        self.weight_init_std = weight_init_std
        factory = {"dtype": dtype, "device": device}
        self.layers = nn.Sequential(
            nn.Conv2d(channels, filter_num, filter_size, stride=stride, padding=pad, **factory),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Flatten(),
            nn.Linear(features, hidden_size, **factory),
            nn.ReLU(),
            nn.Linear(hidden_size, output_size, **factory),
        )
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
