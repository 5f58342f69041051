"""SimpleConvNet: Conv2d - ReLU - MaxPool2d - Linear - ReLU - Linear."""
from torch import nn

from .base import BookNet


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) // stride + 1


class SimpleConvNet(BookNet):
    """input_dim (C, H, W); conv_param {'filter_num', 'filter_size', 'pad', 'stride'};
    2x2 max pooling with stride 2; all weights N(0, weight_init_std**2)."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=None, device=None):
        super().__init__(input_dim)
        filter_num, filter_size = conv_param["filter_num"], conv_param["filter_size"]
        pad, stride = conv_param.get("pad", 0), conv_param.get("stride", 1)
        channels, height, width = input_dim
        conv_h = conv_output_size(height, filter_size, stride, pad)
        conv_w = conv_output_size(width, filter_size, stride, pad)
        if conv_h < 2 or conv_w < 2 or conv_h % 2 or conv_w % 2:
            raise ValueError(
                f"conv_param {conv_param} on input {input_dim} gives a {conv_h}x{conv_w} feature map; "
                "the 2x2 pooling with stride 2 needs even sides of at least 2"
            )
        self.weight_init_std = weight_init_std
        factory = {"dtype": dtype, "device": device}
        self.layers = nn.Sequential(
            nn.Conv2d(channels, filter_num, filter_size, stride=stride, padding=pad, **factory),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Flatten(),
            nn.Linear(filter_num * (conv_h // 2) * (conv_w // 2), hidden_size, **factory),
            nn.ReLU(),
            nn.Linear(hidden_size, output_size, **factory),
        )
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
