"""MultiLayerNetExtend: fully connected, with optional batch norm and dropout."""
from torch import nn

from dlfs_common.checks import check_dropout_ratio, check_sizes, check_weight_decay

from ..layers import BookDropout, activation_module
from .base import BookNet


class MultiLayerNetExtend(BookNet):
    """input_size -> hidden_size_list... -> output_size.

    Each hidden layer: Linear, [BatchNorm1d], activation, [dropout]. The
    arguments are the NumPy twin's. BatchNorm1d is configured as the book's
    layer (eps 1e-6, momentum 0.1 = 1 - the book's 0.9) but keeps PyTorch's
    running statistics (variance starting at 1, updated unbiased); training
    outputs and gradients are the book's. Dropout is the book's non-inverted
    kind (BookDropout) unless inverted_dropout=True, which uses nn.Dropout.
    weight_decay_lambda is not applied here: `make_optimizer` gives it to the
    weights' parameter group, and `loss` adds the book's penalty term. With
    weight_decay_type='l1' the penalty is lambda*sum(|W|), differentiated by autograd.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False,
                 weight_decay_type="l2", inverted_dropout=False, dtype=None, device=None):
        super().__init__((input_size,))
        check_sizes(type(self).__name__, input_size=input_size, hidden_size_list=list(hidden_size_list),
                    output_size=output_size)
        check_weight_decay(type(self).__name__, weight_decay_lambda, weight_decay_type)
        check_dropout_ratio("dropout_ration", dropout_ration)
        self.weight_decay_type = weight_decay_type
        activation_module(activation)  # fail early on an unknown name
        self.hidden_size_list = list(hidden_size_list)
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = weight_decay_lambda
        self.use_dropout = use_dropout
        self.use_batchnorm = use_batchnorm
        factory = {"dtype": dtype, "device": device}

        layers = [nn.Flatten()]
        sizes = [input_size] + self.hidden_size_list
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers.append(nn.Linear(fan_in, fan_out, **factory))
            if use_batchnorm:
                layers.append(nn.BatchNorm1d(fan_out, eps=1e-6, momentum=0.1, **factory))
            layers.append(activation_module(activation))
            if use_dropout:
                layers.append(nn.Dropout(dropout_ration) if inverted_dropout else BookDropout(dropout_ration))
        layers.append(nn.Linear(sizes[-1], output_size, **factory))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return self.weight_init_std
