"""The two-layer net of the book's chapter 4, before layers: sigmoid hidden units, softmax output, and its
gradient both by central differences and by the chain rule worked out by hand."""
import numpy as np

from dlfs_common.checks import check_labels, check_sizes

from ..functions import cross_entropy_error, sigmoid, sigmoid_grad, softmax
from ..gradient import numerical_gradient
from .base import init_scale, normal_init


class SigmoidTwoLayerNet:
    """input_size -> hidden_size (sigmoid) -> output_size (softmax); weights weight_init_std * N(0, 1), biases
    zero; params W1 (input_size, hidden_size), b1, W2 (hidden_size, output_size), b2.

    The book's ch04/two_layer_net.py (which the book's chapter 4 scripts import as TwoLayerNet). Unlike the
    layer-based networks, predict returns probabilities, and labels may be one-hot (the book's) or integers.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=np.float64, rng=None):
        check_sizes("SigmoidTwoLayerNet", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.dtype = np.dtype(dtype)
        self.params = {
            "W1": normal_init((input_size, hidden_size), init_scale(weight_init_std, input_size), self.dtype, rng),
            "b1": np.zeros(hidden_size, dtype=self.dtype),
            "W2": normal_init((hidden_size, output_size), init_scale(weight_init_std, hidden_size), self.dtype, rng),
            "b2": np.zeros(output_size, dtype=self.dtype),
        }

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, output_size)."""
        hidden = sigmoid(np.asarray(x, dtype=self.dtype) @ self.params["W1"] + self.params["b1"])
        return softmax(hidden @ self.params["W2"] + self.params["b2"])

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        labels = check_labels(t, len(x), self.params["b2"].size)
        return float(np.sum(np.argmax(self.predict(x), axis=1) == labels)) / len(x)

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Central differences of the loss with respect to each param (slow: two forwards per weight)."""
        return {key: numerical_gradient(lambda _: self.loss(x, t), param) for key, param in self.params.items()}

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The loss's gradient by the chain rule: softmax with cross-entropy gives (y - t) / N at the scores,
        which flows back through W2, then through the sigmoid's derivative s(a)(1 - s(a)) and W1."""
        x = np.asarray(x, dtype=self.dtype)
        labels = check_labels(t, len(x), self.params["b2"].size)
        pre_activation = x @ self.params["W1"] + self.params["b1"]
        hidden = sigmoid(pre_activation)
        dscores = softmax(hidden @ self.params["W2"] + self.params["b2"])
        dscores[np.arange(len(x)), labels] -= 1
        dscores /= len(x)
        dpre_activation = sigmoid_grad(pre_activation) * (dscores @ self.params["W2"].T)
        return {"W1": x.T @ dpre_activation, "b1": dpre_activation.sum(axis=0),
                "W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
