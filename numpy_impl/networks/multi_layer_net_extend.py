"""MultiLayerNetExtend of the book's chapter 6: a fully connected net with
optional weight decay, dropout and batch normalisation."""
import numpy as np

from dlfs_common.checks import check_dropout_ratio, check_sizes, check_weight_decay

from ..layers import Affine, BatchNormalization, Dropout, activation_layer
from .base import LayerNet, init_scale, normal_init


class MultiLayerNetExtend(LayerNet):
    """input_size -> hidden_size_list... -> output_size.

    Each hidden layer is Affine, [BatchNorm], activation, [Dropout].
    activation: 'relu', 'sigmoid', 'tanh' or 'leaky_relu'.
    weight_init_std: 'he'/'relu' (sqrt(2/fan_in)), 'xavier'/'sigmoid' (sqrt(1/fan_in)) or a number.
    weight_decay_lambda: L2 penalty 0.5*lambda*sum(W**2) on the weights only; with
    weight_decay_type='l1' the L1 penalty lambda*sum(|W|) instead.
    dropout_ration: the book's (sic) name for the dropout ratio.
    rng: a numpy Generator for the weights and the dropout masks (default: NumPy's global state).
    Params: W1, b1, ... and, with batch norm, gamma1, beta1, ... per hidden layer.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ration=0.5, use_batchnorm=False, weight_decay_type="l2", dtype=np.float64, rng=None):
        super().__init__(dtype)
        check_sizes(type(self).__name__, input_size=input_size, hidden_size_list=list(hidden_size_list),
                    output_size=output_size)
        check_weight_decay(type(self).__name__, weight_decay_lambda, weight_decay_type)
        check_dropout_ratio("dropout_ration", dropout_ration)
        self.weight_decay_type = weight_decay_type
        self.input_size = input_size
        self.hidden_size_list = list(hidden_size_list)
        self.hidden_layer_num = len(self.hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.use_dropout = use_dropout
        self.use_batchnorm = use_batchnorm
        activation_layer(activation)  # fail early on an unknown name

        # params in the book's order (W1, b1, gamma1, beta1, W2, ...), in which its gradients and scripts list them
        all_sizes = [input_size] + self.hidden_size_list + [output_size]
        for idx in range(1, len(all_sizes)):
            scale = init_scale(weight_init_std, all_sizes[idx - 1])
            self.params[f"W{idx}"] = normal_init((all_sizes[idx - 1], all_sizes[idx]), scale, self.dtype, rng)
            self.params[f"b{idx}"] = np.zeros(all_sizes[idx], dtype=self.dtype)
            if use_batchnorm and idx <= self.hidden_layer_num:
                self.params[f"gamma{idx}"] = np.ones(all_sizes[idx], dtype=self.dtype)
                self.params[f"beta{idx}"] = np.zeros(all_sizes[idx], dtype=self.dtype)

        for idx in range(1, self.hidden_layer_num + 1):
            self._add_affine(idx)
            if use_batchnorm:
                self.layers[f"BatchNorm{idx}"] = BatchNormalization(self.params[f"gamma{idx}"],
                                                                    self.params[f"beta{idx}"])
            self.layers[f"Activation_function{idx}"] = activation_layer(activation)
            if use_dropout:
                self.layers[f"Dropout{idx}"] = Dropout(dropout_ration, rng=rng)
        self._add_affine(self.hidden_layer_num + 1)

    def _add_affine(self, idx):
        self.layers[f"Affine{idx}"] = Affine(self.params[f"W{idx}"], self.params[f"b{idx}"],
                                             backprop_to_input=idx > 1)  # no gradient for the input images
