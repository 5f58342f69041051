"""The book's gradient check: backpropagation against central differences on three training images, in float64."""
import numpy as np

from numpy_impl.datasets import load_mnist


def gradient_check(ctx, network):
    """{param key: mean |backprop - numerical|} of a float64 NumPy `network` on the first three training images
    of ctx's data set."""
    (x_train, t_train), _ = load_mnist(dataset=ctx.dataset, download=ctx.download)
    x, t = x_train[:3].astype(np.float64), t_train[:3]
    backprop, numerical = network.gradient(x, t), network.numerical_gradient(x, t)
    return {key: float(np.mean(np.abs(backprop[key] - numerical[key]))) for key in network.params}
