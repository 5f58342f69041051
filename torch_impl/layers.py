"""The one layer PyTorch has no knob for, and the activation names of the book."""
import torch
from torch import nn


class BookDropout(nn.Dropout):
    """Dropout with the book's (non-inverted) scaling.

    Training: `x * mask`, mask ~ Bernoulli(1 - p). Evaluation: `x * (1 - p)`.
    `nn.Dropout` instead divides by (1 - p) in training and is the identity in
    evaluation: for the same mask, nn.Dropout's output is this one's / (1 - p)
    in both modes. The last mask drawn is kept in `.mask` so that a caller (the
    parity harness) can hand it to the NumPy twin.
    """

    def __init__(self, p=0.5):
        super().__init__(p=p)
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x * (1.0 - self.p)
        self.mask = torch.rand_like(x) > self.p  # the book's comparison: uniform > ratio keeps
        return x * self.mask


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
               "leaky_relu": lambda: nn.LeakyReLU(0.01)}


def activation_module(name):
    """A new activation module by the book's name: 'relu', 'sigmoid', 'tanh' or 'leaky_relu'."""
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
