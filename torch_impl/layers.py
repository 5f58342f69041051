"""The one layer PyTorch has no knob for, and the activation names of the book."""
import torch
from torch import nn

from dlfs_common.checks import check_dropout_ratio


class BookDropout(nn.Dropout):
    """Dropout with the book's (non-inverted) scaling.

    Training: `x * mask`, mask ~ Bernoulli(1 - p). Evaluation: `x * (1 - p)`.
    `nn.Dropout` instead divides by (1 - p) in training and is the identity in
    evaluation: for the same mask, nn.Dropout's output is this one's / (1 - p)
    in both modes. The last mask drawn is kept in `.mask` so that a caller (the
    parity harness) can hand it to the NumPy twin.
    `shard = (rank, ranks)` (torch_impl.distributed.shard_dropout): x is this rank's
    equal share of a batch split over `ranks`; the mask of the whole batch is drawn
    and this rank's rows kept, so every rank uses the mask one process would.
    """

    def __init__(self, p=0.5):
        check_dropout_ratio("dropout_ratio", p)
        super().__init__(p=p)
        self.mask = None
        self.shard = None

    def forward(self, x):
        if not self.training:
            return x * (1.0 - self.p)
        if self.shard is None:
            uniform = torch.rand_like(x)
        else:
            rank, ranks = self.shard
            whole = torch.rand((len(x) * ranks, *x.shape[1:]), dtype=x.dtype, device=x.device)
            uniform = whole[rank * len(x):(rank + 1) * len(x)]
        self.mask = uniform > self.p  # the book's comparison: uniform > ratio keeps
        return x * self.mask


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
               "leaky_relu": lambda: nn.LeakyReLU(0.01)}


def activation_module(name):
    """A new activation module by the book's name: 'relu', 'sigmoid', 'tanh' or 'leaky_relu'."""
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
