"""nn.Module twins of numpy_impl.networks, with the same constructor arguments."""
from .deep_convnet import DeepConvNet
from .double_convnet import DoubleConvNet
from .multi_layer_net import MultiLayerNet
from .multi_layer_net_extend import MultiLayerNetExtend
from .simple_convnet import SimpleConvNet
from .two_layer_net import TwoLayerNet

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DoubleConvNet", "DeepConvNet"]
