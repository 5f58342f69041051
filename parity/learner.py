"""The harness for a learner's own code: `parity.check(MyAffine, "Affine")` runs the twins of the book's Affine
with MyAffine in its place, against the same torch twins, inputs, shapes and tolerances, and prints the report.

What can be checked: a layer class of numpy_impl.layers (Affine, Convolution, Pooling, BatchNormalization,
Dropout, SoftmaxWithLoss, Relu, ...), a function of numpy_impl.functions (sigmoid, softmax, ...) or of
numpy_impl.util (unfold, fold), or an optimizer class (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam).
The learner's class takes the book's constructor arguments and has the book's methods (forward/backward and
the gradient attributes dW, db, ...; update(params, grads) for an optimizer).
"""
from contextlib import contextmanager
from fnmatch import fnmatchcase

from numpy_impl import functions, layers, optimizers, util

from . import registry, runner
from .report import summary_line, text_table
from .twins.layers import LayerTwin
from .twins.optimizers import OptimizerTwin


@contextmanager
def standing_in(name: str, implementation):
    """Within: `implementation` in place of numpy_impl's `name` wherever the twins build it (the twins look
    these modules' names up when they run)."""
    homes = [module for module in (layers, functions, util, optimizers) if hasattr(module, name)]
    if not homes:  # nothing to stand in for: the check would run numpy_impl's own code and prove nothing
        raise ValueError(f"numpy_impl has no layer, function or optimizer {name!r}")
    saved = [(module, getattr(module, name)) for module in homes]
    saved_optimizer = optimizers.OPTIMIZERS.get(name)
    try:
        for module in homes:
            setattr(module, name, implementation)
        if saved_optimizer is not None:
            optimizers.OPTIMIZERS[name] = implementation
        yield
    finally:
        for module, original in saved:
            setattr(module, name, original)
        if saved_optimizer is not None:
            optimizers.OPTIMIZERS[name] = saved_optimizer


def twins_of(name: str, only: str | None = None) -> list:
    """The value-comparing twins of numpy_impl's `name`: the twin called `name` and its variants (`name[...]`);
    with `only`, those of them whose name matches that glob ('Pooling[max*')."""
    return [twin for twin in registry.all_twins() if isinstance(twin, (LayerTwin, OptimizerTwin))
            and (twin.name == name or twin.name.startswith(name + "["))
            and (only is None or twin.name == only or fnmatchcase(twin.name, only))]


def check(implementation, name: str, dtypes=("float64", "float32"), device="cpu", only: str | None = None) -> bool:
    """Check a learner's `implementation` of numpy_impl's `name` against its torch twins; print every check
    (and, for each failure, the worst element and how many are out of tolerance); True if all passed.
    `only`: a glob of twin names, for an implementation of part of the layer (max pooling: 'Pooling[max*')."""
    twins = twins_of(name, only)
    if not twins:
        raise ValueError(f"no twin checks {name!r}" + (f" among those matching {only!r}" if only else "")
                         + "; `python -m parity --list` shows the twins")
    with standing_in(name, implementation):
        records = [record for job in runner.jobs(twins, dtypes, [device]) for record in runner.run_job(*job)]
    print(text_table(records))
    for record in records:
        if not record.passed:
            print(f"FAIL {record.twin} [{record.dtype}]: {record.describe()}")
    print(summary_line(records))
    return all(record.passed for record in records)
