"""TwoLayerNet: Linear - ReLU - Linear."""
from torch import nn

from dlfs_common.checks import check_sizes

from .base import BookNet


class TwoLayerNet(BookNet):
    """input_size -> hidden_size (ReLU) -> output_size; weights N(0, weight_init_std**2), biases zero."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=None, device=None):
        check_sizes("TwoLayerNet", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        super().__init__((input_size,))
        self.weight_init_std = weight_init_std
        factory = {"dtype": dtype, "device": device}
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(input_size, hidden_size, **factory), nn.ReLU(),
                                    nn.Linear(hidden_size, output_size, **factory))
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
