"""The layers PyTorch has no knob for (the book's dropout and running statistics), and the activation names of
the book."""
import torch
import torch.nn.functional as F
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


class BookBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm of 2-D (N, D) or 4-D (N, C, H, W) input with the book's running statistics: the running
    variance starts at 0 and is updated with the biased batch variance, where nn.BatchNorm1d/2d start it at 1 and
    update it with the unbiased one. Training outputs and gradients, and evaluation, are nn.BatchNorm1d/2d's.
    `momentum` is torch's (the book's 0.9 is 0.1 here)."""

    def _check_input_dim(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"BookBatchNorm expects 2-D or 4-D input; got {x.dim()}-D")

    def reset_running_stats(self):
        super().reset_running_stats()
        self.running_var.zero_()

    def forward(self, x):
        self._check_input_dim(x)
        if not self.training:
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(dims))
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dims, unbiased=False))
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def book_batch_norm(module: nn.modules.batchnorm._BatchNorm) -> BookBatchNorm:
    """A BookBatchNorm with `module`'s settings, parameters and running statistics; those of a module that has
    not trained yet are the book's initial ones (the variance 0, not torch's 1)."""
    book = BookBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                         device=module.running_mean.device, dtype=module.running_mean.dtype)
    state = module.state_dict()
    if not state["num_batches_tracked"]:
        state["running_var"] = book.running_var
    book.load_state_dict(state)
    return book


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
               "leaky_relu": lambda: nn.LeakyReLU(0.01)}


def activation_module(name):
    """A new activation module by the book's name: 'relu', 'sigmoid', 'tanh' or 'leaky_relu'."""
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
