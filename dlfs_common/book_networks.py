"""The book's default network configurations, which both twins take as their defaults."""

SIMPLE_CONVNET_CONV_PARAM = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}

DEEP_CONVNET_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)

# DoubleConvNet (not the book's; between SimpleConvNet and DeepConvNet, as courses built on the book use it):
# two convolution blocks, each conv - relu - 2x2 pool
DOUBLE_CONVNET_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 5, "pad": 2, "stride": 1},
    {"filter_num": 32, "filter_size": 5, "pad": 2, "stride": 1},
)
