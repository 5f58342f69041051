"""The book's networks, each with params W1, b1, ..., predict, loss, accuracy,
gradient, numerical_gradient, save_params and load_params."""
from .deep_convnet import DeepConvNet
from .double_convnet import DoubleConvNet
from .multi_layer_net import MultiLayerNet
from .multi_layer_net_extend import MultiLayerNetExtend
from .sigmoid_two_layer_net import SigmoidTwoLayerNet
from .simple_convnet import SimpleConvNet
from .two_layer_net import TwoLayerNet

__all__ = ["SigmoidTwoLayerNet", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet",
           "DoubleConvNet", "DeepConvNet"]
