"""Checks of arguments and inputs that both twins make, so that both refuse bad input with one message.

Each raises ValueError naming the argument, the value and what was expected. Shapes are computed
by each twin its own way (the NumPy twin by hand, the torch twin from its modules) and passed in.
"""
from collections.abc import Mapping, Sequence

import numpy as np

WEIGHT_INIT_NAMES = {"he": "he", "relu": "he", "xavier": "xavier", "sigmoid": "xavier"}
CONV_PARAM_KEYS = ("filter_num", "filter_size", "pad", "stride")


def check_integer(owner: str, name: str, value, minimum: int) -> None:
    """Raise ValueError unless `value` is an integer (not a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}; got {value!r}")


def is_number(value) -> bool:
    """Whether `value` is a real number (Python's or NumPy's), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_non_negative(owner: str, name: str, value) -> None:
    """Raise ValueError unless `value` is a finite number >= 0 (not nan, not inf, not a bool)."""
    if not is_number(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a finite number >= 0; got {value!r}")


def check_fraction(owner: str, name: str, value) -> None:
    """Raise ValueError unless `value` is a number in [0, 1] (a momentum of running statistics)."""
    if not is_number(value) or not 0 <= value <= 1:
        raise ValueError(f"{owner}: {name} must be a number in [0, 1]; got {value!r}")


def check_positive(owner: str, name: str, value) -> None:
    """Raise ValueError unless `value` is a finite number > 0 (an eps)."""
    if not is_number(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a finite number > 0; got {value!r}")


def check_seed(owner: str, seed) -> None:
    """Raise ValueError unless `seed` is None or an integer in [0, 2**64), which NumPy's and torch's generators
    both take."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2 ** 64):
        raise ValueError(f"{owner}: seed must be None or an integer in [0, 2**64); got {seed!r}")


def check_sizes(owner: str, **sizes) -> None:
    """check_integer(owner, name, size, 1) for each size; a list (hidden_size_list) is checked entry by entry."""
    for name, size in sizes.items():
        if isinstance(size, Sequence) and not isinstance(size, str):
            for index, entry in enumerate(size):
                check_integer(owner, f"{name}[{index}]", entry, 1)
        else:
            check_integer(owner, name, size, 1)


def check_input_dim(owner: str, input_dim) -> tuple:
    """The image shape (C, H, W) of a convolutional network, as a tuple of three integers >= 1."""
    if not isinstance(input_dim, Sequence) or len(input_dim) != 3:
        raise ValueError(f"{owner}: input_dim must be (channels, height, width); got {input_dim!r}")
    for name, size in zip(("channels", "height", "width"), input_dim):
        check_integer(owner, f"input_dim's {name}", size, 1)
    return tuple(input_dim)


def check_conv_param(owner: str, name: str, conv_param) -> tuple:
    """(filter_num, filter_size, pad, stride) of a book conv_param dict: filter_num and filter_size
    required, pad (default 0) and stride (default 1) optional, all integers, no other key."""
    expected = ("a dict with integer 'filter_num' and 'filter_size', and optionally 'pad' (default 0) "
                "and 'stride' (default 1)")
    if not isinstance(conv_param, Mapping):
        raise ValueError(f"{owner}: {name} must be {expected}; got {conv_param!r}")
    missing = [key for key in CONV_PARAM_KEYS[:2] if key not in conv_param]
    unknown = sorted(set(conv_param) - set(CONV_PARAM_KEYS))
    if missing or unknown:
        raise ValueError(f"{owner}: {name} must be {expected}; missing {missing}, unexpected {unknown}")
    values = (conv_param["filter_num"], conv_param["filter_size"], conv_param.get("pad", 0),
              conv_param.get("stride", 1))
    for key, value, minimum in zip(CONV_PARAM_KEYS, values, (1, 1, 0, 1)):
        check_integer(owner, f"{name}['{key}']", value, minimum)
    return values


def check_filter_fits(owner: str, input_dim, layer: str, height: int, width: int, filter_size: int, pad: int):
    """Raise ValueError if a filter_size window does not fit the padded height x width map entering `layer`."""
    if filter_size > min(height, width) + 2 * pad:
        raise ValueError(f"{owner} on input {tuple(input_dim)}: the {filter_size}x{filter_size} filter of {layer} "
                         f"is larger than its input, {height}x{width} padded by {pad}")


def check_pooling_input(owner: str, input_dim, stage: int, height: int, width: int) -> None:
    """Raise ValueError unless the height x width map before 2x2 pooling `stage` has sides of at least 2 (an odd
    side loses its last row or column, as in the book and torch)."""
    if height < 2 or width < 2:
        raise ValueError(f"{owner} on input {tuple(input_dim)}: the feature map before pooling {stage} is "
                         f"{height}x{width}; the 2x2 pooling with stride 2 needs sides of at least 2")


def weight_init_kind(weight_init_std):
    """'he', 'xavier' or the number itself, for the book's weight_init_std ('he'/'relu', 'xavier'/'sigmoid',
    or a standard deviation)."""
    if isinstance(weight_init_std, str) and weight_init_std.lower() in WEIGHT_INIT_NAMES:
        return WEIGHT_INIT_NAMES[weight_init_std.lower()]
    if is_number(weight_init_std) and np.isfinite(weight_init_std) and weight_init_std >= 0:
        return float(weight_init_std)
    raise ValueError(f"unknown weight_init_std {weight_init_std!r}; expected 'he', 'relu', 'xavier', 'sigmoid' "
                     "or a standard deviation (a finite number >= 0)")


def check_weight_decay(owner: str, weight_decay_lambda, weight_decay_type: str) -> None:
    """Raise ValueError unless weight_decay_lambda is a finite number >= 0 and weight_decay_type 'l2' or 'l1'."""
    check_non_negative(owner, "weight_decay_lambda", weight_decay_lambda)
    if weight_decay_type not in ("l2", "l1"):
        raise ValueError(f"weight_decay_type must be 'l2' or 'l1'; got {weight_decay_type!r}")


def check_dropout_ratio(name: str, ratio) -> None:
    """Raise ValueError unless the dropout ratio `name` is a number in [0, 1)."""
    if not is_number(ratio) or not 0 <= ratio < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {ratio!r}")


def check_hyperparameters(optimizer: str, lr, momentum=None, decay_rate=None, beta1=None, beta2=None) -> None:
    """Raise ValueError naming the hyper-parameter of `optimizer` that is out of range, as torch.optim
    does: lr >= 0, momentum >= 0, decay_rate in [0, 1], beta1 and beta2 in [0, 1); all finite."""
    ranges = {  # name: (value, upper bound or None, whether the bound itself is allowed, expected)
        "lr": (lr, None, False, ">= 0"), "momentum": (momentum, None, False, ">= 0"),
        "decay_rate": (decay_rate, 1.0, True, "in [0, 1]"),
        "beta1": (beta1, 1.0, False, "in [0, 1)"), "beta2": (beta2, 1.0, False, "in [0, 1)")}
    for name, (value, high, high_allowed, expected) in ranges.items():
        if value is None:
            continue
        if not is_number(value):  # float() would take '0.1' and True, which the update then fails on or misreads
            raise ValueError(f"{optimizer}: {name} must be a number {expected}; got {value!r}")
        number = float(value)
        too_high = high is not None and (number > high if high_allowed else number >= high)
        if not np.isfinite(number) or number < 0 or too_high:
            raise ValueError(f"{optimizer}: {name} must be {expected}; got {value!r}")


def check_one_hot(t) -> None:
    """Raise ValueError unless every row of the 2-D array `t` holds one 1 and zeros elsewhere."""
    t = np.asarray(t)
    valid = ((t == 0) | (t == 1)).all(axis=1) & (t.sum(axis=1) == 1)
    if not valid.all():
        row = int(np.argmin(valid))
        raise ValueError(f"one-hot labels t must hold one 1 per row and 0 elsewhere; row {row} is {t[row].tolist()}")


def check_training_data(x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                        evaluate_sample_num_per_epoch=None):
    """Raise ValueError for mismatched sample counts, an empty training or test set (the Trainers score the
    test set after every epoch), a bad epoch count, batch size or evaluation count."""
    for name, x, t in (("train", x_train, t_train), ("test", x_test, t_test)):
        if len(x) != len(t):
            raise ValueError(f"x_{name} has {len(x)} samples but t_{name} has {len(t)}")
        if len(x) == 0:
            raise ValueError(f"x_{name} is empty; the Trainer needs at least one {name}ing sample")
    check_non_negative("Trainer", "epochs", epochs)
    check_integer("Trainer", "mini_batch_size", mini_batch_size, 1)
    if evaluate_sample_num_per_epoch is not None:
        check_integer("Trainer", "evaluate_sample_num_per_epoch (None: all)", evaluate_sample_num_per_epoch, 1)


FINITE_CHECK_ROWS = 4096  # rows checked at once: the check's temporary stays small beside the data


def check_finite(name: str, x) -> None:
    """Raise ValueError naming `name`, the first index and its value if the array x holds a nan or an inf:
    data, not a training that diverged."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        return
    rows = x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)
    for start in range(0, len(rows), FINITE_CHECK_ROWS):
        finite = np.isfinite(rows[start:start + FINITE_CHECK_ROWS])
        if not finite.all():
            flat = start * rows.shape[1] + int(np.argmin(finite))
            index = tuple(int(i) for i in np.unravel_index(flat, x.shape))
            raise ValueError(f"{name} holds {x[index]} at index {list(index)}: the data must be finite numbers "
                             "(a missing or corrupt value?)")


def check_sample_counts(x, t) -> None:
    """Raise ValueError unless x and t hold the same number of samples, at least one."""
    if len(x) != len(t):
        raise ValueError(f"x has {len(x)} samples but t has {len(t)}")
    if len(x) == 0:
        raise ValueError("x and t are empty: an accuracy needs at least one sample")


def check_labels(t, batch_size: int, num_classes: int) -> np.ndarray:
    """Integer labels (batch_size,) from the array `t`: one-hot labels (batch_size, num_classes) or integer
    labels in [0, num_classes), of shape (batch_size,) or (batch_size, 1). Raises ValueError for anything else."""
    t = np.asarray(t)
    if t.shape == (batch_size, num_classes):
        check_one_hot(t)
        return t.argmax(axis=1)
    if t.shape == (batch_size, 1) and np.issubdtype(t.dtype, np.integer):  # a column of labels, as the book allows
        t = t.reshape(batch_size)
    if t.shape != (batch_size,):
        raise ValueError(
            f"labels t have shape {t.shape}; expected one-hot labels of shape "
            f"{(batch_size, num_classes)} or integer labels of shape ({batch_size},)"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"integer labels t must have an integer dtype, got {t.dtype}")
    if batch_size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(
            f"labels t must lie in [0, {num_classes}) for {num_classes} classes; "
            f"got values from {t.min()} to {t.max()}"
        )
    return t
