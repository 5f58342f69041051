"""MultiLayerNet: MultiLayerNetExtend without dropout (and, unless asked, without batch norm)."""
from .multi_layer_net_extend import MultiLayerNetExtend


class MultiLayerNet(MultiLayerNetExtend):
    """input_size -> hidden_size_list... -> output_size; Linear, [BatchNorm1d], activation per hidden layer.
    use_batchnorm is not the book's: courses built on it pass it to MultiLayerNet."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, weight_decay_type="l2", use_batchnorm=False, dtype=None, device=None):
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std, weight_decay_lambda=weight_decay_lambda,
                         weight_decay_type=weight_decay_type, use_batchnorm=use_batchnorm, dtype=dtype,
                         device=device)
