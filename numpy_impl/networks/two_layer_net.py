"""TwoLayerNet of the book's chapter 5: Affine - Relu - Affine - SoftmaxWithLoss."""
import numpy as np

from dlfs_common.checks import check_sizes

from ..layers import Affine, Relu
from .base import LayerNet, init_scale, normal_init


class TwoLayerNet(LayerNet):
    """input_size -> hidden_size (ReLU) -> output_size.

    Weights are weight_init_std * N(0, 1), biases zero; params W1, b1, W2, b2.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01,
                 dtype=np.float64, rng=None):
        super().__init__(dtype)
        check_sizes("TwoLayerNet", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.params["W1"] = normal_init((input_size, hidden_size),
                                        init_scale(weight_init_std, input_size), self.dtype, rng)
        self.params["b1"] = np.zeros(hidden_size, dtype=self.dtype)
        self.params["W2"] = normal_init((hidden_size, output_size),
                                        init_scale(weight_init_std, hidden_size), self.dtype, rng)
        self.params["b2"] = np.zeros(output_size, dtype=self.dtype)

        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"], backprop_to_input=False)
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
