"""What the torch twins of the book's networks share.

A subclass builds `self.layers`, an `nn.Sequential` of stock modules, and
calls `self.reset_parameters()`. From the order of its Linear, Conv2d and
BatchNorm modules this class derives the book's parameter names (W1, b1,
gamma1, ...), which `parity.convert` uses to move weights across.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from dlfs_common.checks import (
    check_filter_fits,
    check_labels,
    check_pooling_input,
    check_sample_counts,
    weight_init_kind,
)

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
# every batch norm: BatchNorm1d/2d, and the cross-rank ones of data-parallel training (torch_impl.distributed)
BATCHNORM_LAYERS = (nn.modules.batchnorm._BatchNorm,)


def init_book_weight_(weight: torch.Tensor, weight_init_std) -> torch.Tensor:
    """Initialise a weight in place with the book's meaning of weight_init_std.

    'he'/'relu': N(0, 2/fan_in), `kaiming_normal_(nonlinearity='relu')`.
    'xavier'/'sigmoid': N(0, 1/fan_in), `kaiming_normal_(nonlinearity='linear')`;
    the book's "Xavier" is not `xavier_normal_`, which uses 2/(fan_in + fan_out).
    A number: N(0, number**2).
    """
    kind = weight_init_kind(weight_init_std)
    if kind == "he":
        return nn.init.kaiming_normal_(weight, nonlinearity="relu")
    if kind == "xavier":
        return nn.init.kaiming_normal_(weight, nonlinearity="linear")
    return nn.init.normal_(weight, 0.0, kind)


def output_shape(module: nn.Module, input_shape: tuple) -> tuple:
    """The per-sample shape `module` gives for per-sample input_shape, from a dry run of a copy of it on
    the meta device: PyTorch's own shape rules, no arithmetic done."""
    probe = copy.deepcopy(module).to("meta")
    dtype = next(probe.parameters(), torch.empty(0)).dtype
    return tuple(probe(torch.empty(1, *input_shape, dtype=dtype, device="meta")).shape[1:])


def conv_blocks(owner: str, input_dim: tuple, conv_params, pool_after, factory: dict) -> tuple:
    """([Conv2d, ReLU, (MaxPool2d after each convolution i in pool_after), ...], the per-sample shape they give)
    for the (filter_num, filter_size, pad, stride) of conv_params. Each layer's input shape comes from a dry run
    of the layers before it; each filter is checked to fit and each pooling to halve its map."""
    layers, shape, stage = [], tuple(input_dim), 0
    for idx, (filter_num, filter_size, pad, stride) in enumerate(conv_params, start=1):
        check_filter_fits(owner, input_dim, f"convolution {idx}", *shape[1:], filter_size, pad)
        conv = nn.Conv2d(shape[0], filter_num, filter_size, stride=stride, padding=pad, **factory)
        layers += [conv, nn.ReLU()]
        shape = output_shape(conv, shape)
        if idx in pool_after:
            stage += 1
            check_pooling_input(owner, input_dim, stage, *shape[1:])
            pool = nn.MaxPool2d(2, stride=2)
            layers.append(pool)
            shape = output_shape(pool, shape)
    return layers, shape


class BookNet(nn.Module):
    """Base of the torch networks. forward(x) returns class scores (N, output_size)."""

    weight_decay_lambda = 0.0
    weight_decay_type = "l2"
    # the book's networks take their loss in evaluation mode, except DeepConvNet
    loss_in_train_mode = False
    log_eps = 0.0  # added inside the loss's log by use_book_semantics, as the book adds 1e-7

    def __init__(self, input_shape):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.layers = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.input_shape) == 1:  # fully connected: any per-sample shape of the right size, like Affine
            fits = x.dim() >= 2 and x.shape[1:].numel() == self.input_shape[0]
        else:
            fits = tuple(x.shape[1:]) == self.input_shape
        if not fits:
            raise ValueError(f"{type(self).__name__} expects input of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}); got {tuple(x.shape)}")
        return self.layers(x)

    def book_keys(self) -> dict[str, tuple[str, bool]]:
        """{book name: (state_dict key, transposed)}: 'W1' -> ('layers.1.weight', True), ...

        Weights and biases of Linear and Conv2d are numbered 1, 2, ... in order;
        a batch norm takes the number of the layer before it (gamma1, beta1,
        running_mean1, running_var1). Linear weights are (out, in), the
        transpose of the book's Affine W (in, out).
        """
        keys, index = {}, 0
        for name, module in self.layers.named_children():
            prefix = f"layers.{name}."
            if isinstance(module, WEIGHT_LAYERS):
                index += 1
                keys[f"W{index}"] = (prefix + "weight", isinstance(module, nn.Linear))
                keys[f"b{index}"] = (prefix + "bias", False)
            elif isinstance(module, BATCHNORM_LAYERS):
                for book, torch_name in (("gamma", "weight"), ("beta", "bias"),
                                         ("running_mean", "running_mean"), ("running_var", "running_var")):
                    keys[f"{book}{index}"] = (prefix + torch_name, False)
        return keys

    def decayed_weights(self):
        """The weights that the book's L2 penalty covers: those of Linear and Conv2d, not biases, gamma or beta."""
        return [module.weight for module in self.layers if isinstance(module, WEIGHT_LAYERS)]

    def weight_decay_penalty(self):
        """The term the book adds to its loss: 0.5 * lambda * sum(W**2), or lambda * sum(|W|) for 'l1'."""
        weights = self.decayed_weights()
        if not self.weight_decay_lambda:
            return torch.zeros((), dtype=weights[0].dtype, device=weights[0].device)
        if self.weight_decay_type == "l1":
            return self.weight_decay_lambda * sum(torch.sum(w.abs()) for w in weights)
        return 0.5 * self.weight_decay_lambda * sum(torch.sum(w ** 2) for w in weights)

    def autograd_penalty(self):
        """The part of the penalty whose gradient backward() must supply: the L1 penalty. The L2
        penalty's gradient lambda*W comes from the optimizer's weight_decay (make_optimizer)."""
        if self.weight_decay_type == "l1":
            return self.weight_decay_penalty()
        return torch.zeros((), dtype=self.decayed_weights()[0].dtype, device=self.decayed_weights()[0].device)

    @property
    def same_in_both_modes(self):
        """True when no layer (dropout, batch norm) computes differently in training and evaluation mode."""
        return not any(isinstance(module, (nn.Dropout, *BATCHNORM_LAYERS)) for module in self.modules())

    @property
    def output_size(self):
        return [m for m in self.layers if isinstance(m, nn.Linear)][-1].out_features

    def use_book_semantics(self):
        """The book's semantics where stock PyTorch differs and no module argument sets them, in place: the loss
        takes 1e-7 inside its log (`log_eps`), and every nn.BatchNorm1d/2d becomes a BookBatchNorm with the same
        parameters, whose running variance starts at 0 and follows the biased batch variance. Dropout
        (BookDropout) and the optimizers' eps (make_optimizer) are the book's already. Across ranks on CUDA,
        nn.SyncBatchNorm takes their place again, with torch's unbiased update. Returns the network."""
        from ..layers import book_batch_norm
        from ..optimizers import BOOK_EPS
        self.log_eps = BOOK_EPS
        stock = [(parent, name, child) for parent in self.modules() for name, child in parent.named_children()
                 if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d)]
        for parent, name, child in stock:
            setattr(parent, name, book_batch_norm(child))
        return self

    def data_loss(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean cross-entropy of `scores` (N, C) for integer `labels` (N,): F.cross_entropy's; with
        `log_eps` (use_book_semantics) its value is the book's, -mean(log(softmax[label] + log_eps)), and its
        gradient still F.cross_entropy's, as the book's backward ignores the 1e-7."""
        data_loss = F.cross_entropy(scores, labels)
        if not self.log_eps:
            return data_loss
        book_loss = -torch.log(F.softmax(scores, dim=1).gather(1, labels[:, None]) + self.log_eps).mean()
        # the book's value plus an exact zero that carries cross_entropy's gradient: adding their difference
        # to cross_entropy instead lost the book's value to rounding once scores grew (a loss of 1e4 or more)
        return book_loss.detach() + (data_loss - data_loss.detach())

    def loss(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the scores in the module's current mode, plus the book's L2 penalty.

        The L2 penalty is added as a detached value: its gradient lambda*W comes
        from the optimizer's weight_decay (see make_optimizer), as usual in
        PyTorch, so backward() on this loss does not decay twice. The L1 penalty
        has no optimizer knob and is differentiated by autograd.
        F.cross_entropy has no 1e-7 inside the log: this is larger than the book's
        loss by (1/N) * sum(log(1 + 1e-7 / y_label)); the gradients are equal. With log_eps
        (use_book_semantics) it is the book's (data_loss).
        """
        scores = self(x)
        labels = torch.as_tensor(check_labels(t.detach().cpu().numpy(), *scores.shape), device=scores.device)
        data_loss = self.data_loss(scores, labels)
        if self.weight_decay_type == "l1":
            return data_loss + self.weight_decay_penalty()
        return data_loss + self.weight_decay_penalty().detach()

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, t: torch.Tensor, batch_size: int = 100) -> float:
        """Fraction of samples whose highest score is the label, in evaluation mode; the labels that `loss`
        refuses are refused here too (dlfs_common.checks.check_labels, on the host)."""
        check_sample_counts(x, t)
        t = torch.as_tensor(check_labels(t.cpu().numpy() if torch.is_tensor(t) else t, len(x), self.output_size),
                            device=x.device)
        was_training = self.training
        self.eval()
        try:
            correct = sum((self(x[i:i + batch_size]).argmax(dim=1) == t[i:i + batch_size]).sum()
                          for i in range(0, len(x), batch_size))
        finally:
            self.train(was_training)
        return float(correct) / len(x)

    def reset_parameters(self):
        """Book initialisation: weights by `self.weight_init_std_for(index, module)`, biases zero."""
        index = 0
        for module in self.layers:
            if isinstance(module, WEIGHT_LAYERS):
                index += 1
                init_book_weight_(module.weight, self.weight_init_std_for(index, module))
                nn.init.zeros_(module.bias)
            elif isinstance(module, BATCHNORM_LAYERS):
                module.reset_parameters()

    def weight_init_std_for(self, index, module):
        raise NotImplementedError(f"{type(self).__name__} must say how its weights are initialised")
