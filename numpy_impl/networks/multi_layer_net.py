"""MultiLayerNet of the book's chapter 6: a fully connected net with weight decay."""
import numpy as np

from .multi_layer_net_extend import MultiLayerNetExtend


class MultiLayerNet(MultiLayerNetExtend):
    """input_size -> hidden_size_list... -> output_size, Affine and activation per hidden layer.

    The book's MultiLayerNet: MultiLayerNetExtend without dropout and batch norm,
    with the same layer and parameter names. use_batchnorm is not the book's: courses
    built on the book pass it to MultiLayerNet, and it adds batch norm as MultiLayerNetExtend does.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, weight_decay_type="l2", use_batchnorm=False,
                 dtype=np.float64, rng=None):
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std, weight_decay_lambda=weight_decay_lambda,
                         weight_decay_type=weight_decay_type, use_batchnorm=use_batchnorm, dtype=dtype, rng=rng)
