"""DeepConvNet: six 3x3 convolutions, three max poolings, two linear layers with dropout."""
from torch import nn

from dlfs_common.book_networks import DEEP_CONVNET_CONV_PARAMS
from dlfs_common.checks import (
    check_conv_param,
    check_dropout_ratio,
    check_input_dim,
    check_sizes,
)

from ..layers import BookDropout
from .base import BookNet, conv_blocks, output_shape


class DeepConvNet(BookNet):
    """The book's VGG-like net: (conv-relu-conv-relu-pool) x 3, linear-relu-dropout-linear-dropout.

    He initialisation everywhere. Dropout is the book's non-inverted kind, also
    after the last layer as in the book; the loss is taken in training mode.
    Each layer's input shape is what the layers before it give (a dry run).
    """

    loss_in_train_mode = True

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=DEEP_CONVNET_CONV_PARAMS[0], conv_param_2=DEEP_CONVNET_CONV_PARAMS[1],
                 conv_param_3=DEEP_CONVNET_CONV_PARAMS[2], conv_param_4=DEEP_CONVNET_CONV_PARAMS[3],
                 conv_param_5=DEEP_CONVNET_CONV_PARAMS[4], conv_param_6=DEEP_CONVNET_CONV_PARAMS[5],
                 hidden_size=50, output_size=10, dropout_ratio=0.5, dtype=None, device=None):
        input_dim = check_input_dim("DeepConvNet", input_dim)
        super().__init__(input_dim)
        conv_params = [check_conv_param("DeepConvNet", f"conv_param_{idx}", conv_param)
                       for idx, conv_param in enumerate([conv_param_1, conv_param_2, conv_param_3, conv_param_4,
                                                         conv_param_5, conv_param_6], start=1)]
        check_sizes("DeepConvNet", hidden_size=hidden_size, output_size=output_size)
        check_dropout_ratio("dropout_ratio", dropout_ratio)
        factory = {"dtype": dtype, "device": device}
        layers, shape = conv_blocks("DeepConvNet", input_dim, conv_params, {2, 4, 6}, factory)
        layers.append(nn.Flatten())
        (flat_size,) = output_shape(layers[-1], shape)
        layers += [nn.Linear(flat_size, hidden_size, **factory), nn.ReLU(),
                   BookDropout(dropout_ratio),
                   nn.Linear(hidden_size, output_size, **factory),
                   BookDropout(dropout_ratio)]
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return "he"
