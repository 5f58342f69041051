"""The book's optimizers by name, with their hyper-parameters and defaults: the one table both twins build
their optimizers from (numpy_impl.optimizers.make_optimizer, torch_impl.optimizers.make_optimizer)."""
from .checks import check_hyperparameters

# book name: the hyper-parameters it takes, with the book's defaults
BOOK_OPTIMIZERS = {
    "SGD": {"lr": 0.01},
    "Momentum": {"lr": 0.01, "momentum": 0.9},
    "Nesterov": {"lr": 0.01, "momentum": 0.9},
    "AdaGrad": {"lr": 0.01},
    "RMSprop": {"lr": 0.01, "decay_rate": 0.99},
    "Adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999},
}


def optimizer_settings(name: str, hyperparameters: dict) -> tuple:
    """(the book's name, every hyper-parameter with the defaults filled in) for an optimizer named in any case
    ('adam', 'RMSprop'); ValueError for an unknown name, a hyper-parameter it does not take, or one out of range."""
    names = {book_name.lower(): book_name for book_name in BOOK_OPTIMIZERS}
    try:
        book_name = names[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(BOOK_OPTIMIZERS)} (any case)") from None
    defaults = BOOK_OPTIMIZERS[book_name]
    unknown = set(hyperparameters) - set(defaults)
    if unknown:
        raise ValueError(f"{book_name} takes {sorted(defaults)}; got unexpected {sorted(unknown)}")
    settings = {**defaults, **hyperparameters}
    check_hyperparameters(book_name, **settings)
    return book_name, settings
