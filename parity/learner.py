"""The harness for a learner's own code: `parity.check(MyAffine, "Affine")` runs the twins of the book's Affine
with MyAffine in its place, against the same torch twins, inputs, shapes and tolerances, and prints the report.

What can be checked: a layer class of numpy_impl.layers (Affine, Convolution, Pooling, BatchNormalization,
Dropout, SoftmaxWithLoss, Relu, ...), a function of numpy_impl.functions (sigmoid, softmax, ...) or of
numpy_impl.util (unfold, fold), or an optimizer class (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam).
The learner's class takes the book's constructor arguments and has the book's methods (forward/backward and
the gradient attributes dW, db, ...; update(params, grads) for an optimizer).
"""
from contextlib import contextmanager
from difflib import get_close_matches
from fnmatch import fnmatchcase

from numpy_impl import functions, layers, optimizers, util
from torch_impl.devices import machine_description

from . import registry, runner
from .conduct import conduct_records
from .html import html_page
from .report import check_output_path, failure_lines, summary_line, text_table, write_atomically
from .twins.layers import LayerTwin
from .twins.optimizers import OptimizerTwin

HOMES = (layers, functions, util, optimizers)  # the modules whose pieces a learner's code stands in for


@contextmanager
def standing_in(name: str, implementation):
    """Within: `implementation` in place of numpy_impl's `name` wherever the twins build it (the twins look
    these modules' names up when they run)."""
    homes = [module for module in HOMES if hasattr(module, name)]
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


def checkable_names() -> list[str]:
    """The names parity.check takes: those of the value-comparing twins, without their variants, that name a
    piece a learner's code can stand in for (not the fast kernels)."""
    return sorted({name for twin in registry.all_twins() if isinstance(twin, (LayerTwin, OptimizerTwin))
                   and any(hasattr(module, name := twin.name.split("[")[0]) for module in HOMES)})


def check(implementation, name: str, dtypes=("float64", "float32"), device="cpu", only: str | None = None,
          html=None) -> bool:
    """Check a learner's `implementation` of numpy_impl's `name` against its torch twins, and its conduct
    (parity.conduct: the caller's arrays left alone, copies where it keeps data, no dependence on call order);
    print every check (and, for each failure, what went wrong: the shapes, or the worst element, its two
    values and how many are out of tolerance); True if all passed. `dtypes`: a dtype name or a tuple of them.
    `only`: a glob of twin names, for an implementation of part of the layer (max pooling: 'Pooling[max*').
    `html`: a file to write the page of `python -m parity --html` into, for these twins run on this code (the
    failing twins first, each with the learner's method that computed the failing values).
    Raises ValueError when the arguments select no check."""
    records = check_records(implementation, name, dtypes, device, only, html)
    print(text_table(records))
    for line in failure_lines(records):
        print(line)
    print(summary_line(records))
    return all(record.passed for record in records)


def check_records(implementation, name: str, dtypes=("float64", "float32"), device="cpu", only: str | None = None,
                  html=None) -> list:
    """check's records, printing nothing."""
    if not isinstance(name, str):
        raise ValueError(f"name must be the name of a numpy_impl layer, function or optimizer; got {name!r}")
    if not callable(implementation):  # an instance, where the twins build their own from the book's arguments
        instance = type(implementation).__module__ not in ("builtins", "numpy")
        raise ValueError(f"implementation must be a class, or a function for a function's name ('softmax'), which "
                         f"the twins call with the book's arguments; got {implementation!r}"
                         + (f": pass {type(implementation).__name__} itself, not an instance of it" if instance
                            else ""))
    dtypes, device = runner.checked_dtypes(dtypes), runner.checked_device(device)
    twins = twins_of(name, only)
    if not twins:
        close = get_close_matches(name, checkable_names(), n=1, cutoff=0.6) or [
            known for known in checkable_names() if known.lower() == name.lower()]
        raise ValueError(f"no twin checks {name!r}" + (f" among those matching {only!r}" if only else "")
                         + (f"; did you mean {close[0]!r}?" if close else "")
                         + "; `python -m parity --list` shows the twins")
    if html is not None:
        check_output_path(f"html={html!r}", html)
    jobs = runner.require_jobs(runner.jobs(twins, dtypes, [device]), twins, dtypes, [device])
    with standing_in(name, implementation):
        records = [record for job in jobs for record in runner.run_job(*job)]
        records += [record for twin in twins for dtype in dtypes if dtype in twin.dtypes
                    for record in conduct_of(twin, dtype)]
        if html is not None:  # the sources read while the learner's code stands in
            write_atomically(html, html_page(twins, records, machine_description([device])))
    return records


def conduct_of(twin, dtype: str) -> list:
    """The twin's conduct records, or one failing record saying what the learner's code raised."""
    try:
        return conduct_records(twin, dtype)
    except Exception as error:  # the learner's code crashed: a finding to report beside the others
        return [runner.error_record(twin, dtype, "cpu", error)]
