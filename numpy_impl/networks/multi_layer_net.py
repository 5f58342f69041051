"""MultiLayerNet of the book's chapter 6: a fully connected net with weight decay."""
import numpy as np

from .multi_layer_net_extend import MultiLayerNetExtend


class MultiLayerNet(MultiLayerNetExtend):
    """input_size -> hidden_size_list... -> output_size, Affine and activation per hidden layer.

    The book's MultiLayerNet: MultiLayerNetExtend without dropout and batch norm,
    with the same layer and parameter names.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, weight_decay_type="l2", dtype=np.float64, rng=None):
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std, weight_decay_lambda=weight_decay_lambda,
                         weight_decay_type=weight_decay_type, dtype=dtype, rng=rng)
