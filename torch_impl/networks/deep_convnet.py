"""DeepConvNet: six 3x3 convolutions, three max poolings, two linear layers with dropout."""
from torch import nn

from numpy_impl.networks.deep_convnet import DEFAULT_CONV_PARAMS
from numpy_impl.util import conv_output_size

from ..layers import BookDropout
from .base import BookNet


class DeepConvNet(BookNet):
    """The book's VGG-like net: (conv-relu-conv-relu-pool) x 3, linear-relu-dropout-linear-dropout.

    He initialisation everywhere. Dropout is the book's non-inverted kind, also
    after the last layer as in the book; the loss is taken in training mode.
    """

    loss_in_train_mode = True

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=DEFAULT_CONV_PARAMS[0], conv_param_2=DEFAULT_CONV_PARAMS[1],
                 conv_param_3=DEFAULT_CONV_PARAMS[2], conv_param_4=DEFAULT_CONV_PARAMS[3],
                 conv_param_5=DEFAULT_CONV_PARAMS[4], conv_param_6=DEFAULT_CONV_PARAMS[5],
                 hidden_size=50, output_size=10, dropout_ratio=0.5, dtype=None, device=None):
        super().__init__(input_dim)
        factory = {"dtype": dtype, "device": device}
        channels, height, width = input_dim
        layers = []
        conv_params = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6]
        for idx, conv_param in enumerate(conv_params, start=1):
            fs, pad, stride = conv_param["filter_size"], conv_param.get("pad", 0), conv_param.get("stride", 1)
            layers += [nn.Conv2d(channels, conv_param["filter_num"], fs, stride=stride, padding=pad, **factory),
                       nn.ReLU()]
            channels = conv_param["filter_num"]
            height, width = conv_output_size(height, fs, stride, pad), conv_output_size(width, fs, stride, pad)
            if idx % 2 == 0:
                if height % 2 or width % 2:
                    raise ValueError(
                        f"DeepConvNet on input {input_dim}: the feature map before pooling {idx // 2} "
                        f"is {height}x{width}; the 2x2 pooling with stride 2 needs even sides"
                    )
                layers.append(nn.MaxPool2d(2, stride=2))
                height, width = height // 2, width // 2
        layers += [nn.Flatten(),
                   nn.Linear(channels * height * width, hidden_size, **factory), nn.ReLU(),
                   BookDropout(dropout_ratio),
                   nn.Linear(hidden_size, output_size, **factory),
                   BookDropout(dropout_ratio)]
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def weight_init_std_for(self, index, module):
        return "he"
