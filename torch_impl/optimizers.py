"""The book's optimizers as configured `torch.optim` optimizers.

| book | torch.optim | why it is the same update |
| --- | --- | --- |
| SGD(lr) | SGD(lr) | p -= lr*g |
| Momentum(lr, momentum) | SGD(lr, momentum) | torch's buf = m*buf + g is the book's v = m*v - lr*g with v = -lr*buf |
| Nesterov(lr, momentum) | SGD(lr, momentum, nesterov=True) | the corrected book form, p += m*m*v - (1+m)*lr*g |
| AdaGrad(lr) | Adagrad(lr, eps=1e-7) | the book's eps is 1e-7, outside the sqrt as in torch |
| RMSprop(lr, decay_rate) | RMSprop(lr, alpha=decay_rate, eps=1e-7) | likewise |
| Adam(lr, beta1, beta2) | BookAdam: eps 1e-7/sqrt(1 - beta2**t) at step t | 1e-7 + sqrt(v) = eps + sqrt(v_hat) |

The model's `weight_decay_lambda` goes to a parameter group of the weights
(Linear and Conv2d), so biases, gamma and beta are not decayed, as in the book.
"""
import math

import torch

from dlfs_common.book_optimizers import optimizer_settings

BOOK_EPS = 1e-7


class BookAdam(torch.optim.Adam):
    """torch.optim.Adam with the book's epsilon.

    The book's step is lr_t * m / (sqrt(v) + 1e-7) with lr_t = lr*sqrt(1-b2^t)/(1-b1^t);
    torch's is lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). They are equal when
    eps = 1e-7/sqrt(1-b2^t), which this class sets on every group before each step.
    """

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), book_eps=BOOK_EPS, weight_decay=0.0, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=book_eps, weight_decay=weight_decay, fused=fused)
        self.book_eps = book_eps
        self.book_step = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.book_step += 1
        for group in self.param_groups:
            beta2 = group["betas"][1]
            group["eps"] = self.book_eps / math.sqrt(1.0 - beta2 ** self.book_step)
        return super().step(closure)

    def state_dict(self):
        state = super().state_dict()
        state["book_step"] = self.book_step
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        self.book_step = int(state_dict.pop("book_step", 0))
        super().load_state_dict(state_dict)


def adaptive_eps(book_eps):
    """The eps keyword of torch's AdaGrad and RMSprop: the book's 1e-7, or torch's own default."""
    return {"eps": BOOK_EPS} if book_eps else {}


def adam(groups, hp, book_eps, fused):
    betas = (hp["beta1"], hp["beta2"])
    if book_eps:
        return BookAdam(groups, lr=hp["lr"], betas=betas, fused=fused)
    return torch.optim.Adam(groups, lr=hp["lr"], betas=betas, fused=fused)


# book name: (parameter groups, hyper-parameters in the book's names, book_eps, fused) -> torch.optim optimizer
TORCH_OPTIMIZERS = {
    "SGD": lambda groups, hp, book_eps, fused: torch.optim.SGD(groups, lr=hp["lr"]),
    "Momentum": lambda groups, hp, book_eps, fused: torch.optim.SGD(groups, lr=hp["lr"], momentum=hp["momentum"]),
    "Nesterov": lambda groups, hp, book_eps, fused: torch.optim.SGD(groups, lr=hp["lr"], momentum=hp["momentum"],
                                                                    nesterov=True),
    "AdaGrad": lambda groups, hp, book_eps, fused: torch.optim.Adagrad(groups, lr=hp["lr"], **adaptive_eps(book_eps)),
    "RMSprop": lambda groups, hp, book_eps, fused: torch.optim.RMSprop(groups, lr=hp["lr"], alpha=hp["decay_rate"],
                                                                       **adaptive_eps(book_eps)),
    "Adam": adam,
}


def parameter_groups(model, weight_decay_lambda):
    """Two groups: the model's decayed weights with weight_decay, and the rest without."""
    weights = list(model.decayed_weights()) if hasattr(model, "decayed_weights") else []
    weight_ids = {id(p) for p in weights}
    rest = [p for p in model.parameters() if id(p) not in weight_ids]
    groups = [{"params": weights, "weight_decay": weight_decay_lambda}] if weights else []
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def make_optimizer(name: str, model: torch.nn.Module, weight_decay_lambda: float | None = None,
                   book_eps: bool = True, **hparams) -> torch.optim.Optimizer:
    """A torch.optim optimizer doing the book's update `name` with the book's hyper-parameter names.

    name: 'SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop' or 'Adam' (any case).
    hparams: lr, and momentum / decay_rate / beta1, beta2 as in numpy_impl.optimizers.
    weight_decay_lambda: defaults to the model's own.
    book_eps=False keeps torch's own eps values (1e-10, 1e-8, 1e-8) instead of the book's.
    """
    book_name, hp = optimizer_settings(name, hparams)
    if weight_decay_lambda is None:  # the model's L2 penalty; an L1 penalty is left to autograd
        l2 = getattr(model, "weight_decay_type", "l2") == "l2"
        weight_decay_lambda = getattr(model, "weight_decay_lambda", 0.0) if l2 else 0.0
    groups = parameter_groups(model, float(weight_decay_lambda))
    # on CUDA, torch's fused Adam updates every parameter in one kernel: the per-step host work
    # (Python and launches) is what bounds a small network's step there
    fused = all(p.is_cuda for p in model.parameters()) or None
    return TORCH_OPTIMIZERS[book_name](groups, hp, book_eps, fused)
