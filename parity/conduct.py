"""What a learner's code can do wrong that no comparison of outputs sees: change its caller's arrays, keep
references where it should copy, depend on the order of calls. parity.check runs these beside the twins.

Each check runs numpy_impl's `name` (the learner's class standing in) on the CPU and compares the NumPy side
with itself, exactly (the same arithmetic on the same values): one Record per check, its `note` saying what
went wrong. numpy_impl's own layers, functions and optimizers pass every one (tests/test_misuse.py).
"""
import numpy as np

from numpy_impl.optimizers import make_optimizer

from .records import Record
from .twins.layers import LayerTwin
from .twins.optimizers import SHAPES, OptimizerTwin


def conduct_records(twin, dtype: str, seed: int = 0) -> list[Record]:
    """The conduct checks of a layer, function or optimizer twin's NumPy side in `dtype`."""
    checks = layer_conduct(twin, dtype, seed) if isinstance(twin, LayerTwin) else optimizer_conduct(twin, dtype, seed)
    return [Record(twin.name, f"conduct: {label}", dtype, "cpu", 0.0 if not note else float("inf"),
                   0.0 if not note else float("inf"), 0.0, not note, note=note) for label, note in checks]


def same(a, b) -> bool:
    return np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)


def layer_conduct(twin: LayerTwin, dtype: str, seed: int) -> list[tuple[str, str]]:
    """(label, '' or what went wrong) for: the input x and the parameters unchanged by forward and backward;
    an output that is not the input's memory; a forward on other data before the last forward changing
    nothing of what the last forward and backward give."""
    rng = np.random.default_rng(seed)
    inputs, params = twin.draw(rng)
    other = twin.draw(np.random.default_rng(seed + 1))[0]
    extra = {"mask": rng.random(inputs["x"].shape) >= 0.5} if twin.mask_from_torch else {}

    def build():
        return twin.numpy({name: value.astype(dtype) for name, value in params.items()})

    def arguments(drawn):
        return ([drawn["x"].astype(dtype)] + ([drawn["t"]] if "t" in drawn else [])
                + ([twin.train] if twin.train is not None else []))

    target = build()
    args = arguments(inputs)
    x, x_before = args[0], args[0].copy()
    if not hasattr(target, "backward"):  # a function
        out = target(*args)
        return [("leaves its input unchanged", "" if same(x, x_before) else "it changed its input x in place"),
                ("returns new memory", "it returned its input x itself (or a view of it): a caller that "
                 "changes the result changes x" if np.shares_memory(out, x) else "")]
    held = {name: getattr(target, name) for name in twin.torch_params if isinstance(getattr(target, name, None),
                                                                                       np.ndarray)}
    held_before = {name: value.copy() for name, value in held.items()}
    out = target.forward(*args, **extra)
    changed_by_forward = not same(x, x_before)
    dout = rng.standard_normal(np.shape(out)).astype(dtype) if np.ndim(out) else 1
    dx = target.backward(dout.copy() if np.ndim(out) else dout)
    grads = {name: np.copy(getattr(target, f"d{name}")) for name in twin.torch_params}
    changed = [name for name, value in held.items() if not same(value, held_before[name])]

    again = build()
    again.forward(*arguments(other), **extra)
    out_again = again.forward(*arguments(inputs), **extra)
    dx_again = again.backward(dout.copy() if np.ndim(out) else dout)
    differ = [label for label, a, b in [("the output", out, out_again), ("dx", dx, dx_again)]
              + [(f"d{name}", grads[name], getattr(again, f"d{name}")) for name in twin.torch_params]
              if not same(a, b)]
    return [
        ("forward and backward leave the input unchanged",
         "" if same(x, x_before) else f"{'forward' if changed_by_forward else 'backward'} changed its input x in "
         "place (copy it first, as the book's Relu does: out = x.copy())"),
        ("forward and backward leave the parameters unchanged",
         f"forward or backward changed {changed} in place: only an optimizer changes parameters" if changed else ""),
        ("forward returns new memory",
         "forward returned its input x itself (or a view of it): the next layer that changes its input changes "
         "this layer's too" if isinstance(out, np.ndarray) and np.shares_memory(out, x) else ""),
        ("backward uses the last forward",
         f"{', '.join(differ)} changed when another forward came first: backward must use what the last forward "
         "kept, and a forward nothing from an earlier one" if differ else ""),
    ]


def optimizer_conduct(twin: OptimizerTwin, dtype: str, seed: int) -> list[tuple[str, str]]:
    """(label, '' or what went wrong) for: the caller's parameter arrays updated in place; the gradients left
    unchanged; gradients arriving in reused buffers (a network refills the same arrays) and parameters in
    another key order giving the same steps as fresh arrays in the usual order."""
    rng = np.random.default_rng(seed)
    (inputs, hidden, outputs) = SHAPES
    shapes = {"W1": (inputs, hidden[0]), "b1": (hidden[0],), "W2": (hidden[0], outputs), "b2": (outputs,)}
    start = {key: rng.standard_normal(shape).astype(dtype) for key, shape in shapes.items()}
    steps = [{key: rng.standard_normal(shape).astype(dtype) for key, shape in shapes.items()} for _ in range(3)]

    def run(reorder=False, reuse=False):
        optimizer = make_optimizer(twin.book_name, **twin.hyperparams)
        arrays = {key: start[key].copy() for key in shapes}
        buffers = {key: np.empty_like(start[key]) for key in shapes}
        grads_changed, in_place = False, True
        for step, grads in enumerate(steps):
            order = tuple(reversed(shapes)) if reorder and step % 2 else tuple(shapes)
            params = {key: arrays[key] for key in order}
            if reuse:
                for key in order:
                    buffers[key][...] = grads[key]
                given = buffers
            else:
                given = {key: grads[key].copy() for key in order}
            before = {key: value.copy() for key, value in given.items()}
            optimizer.update(params, given)
            grads_changed |= any(not same(given[key], before[key]) for key in order)
            in_place &= all(params[key] is arrays[key] for key in order)
            arrays = dict(params)
        return arrays, in_place, grads_changed

    reference, in_place, grads_changed = run()
    reused, reordered = attempt(run, reuse=True), attempt(run, reorder=True)
    return [
        ("updates the parameters in place",
         "" if in_place else "update() put new arrays into params instead of changing the given ones "
         "(params[key] -= ..., not params[key] = params[key] - ...): a network's layers hold the old arrays "
         "and never see the step"),
        ("leaves the gradients unchanged", "update() changed the caller's gradient arrays" if grads_changed else ""),
        ("copies what it keeps of the gradients",
         "" if matches(reused, reference) else "its steps change when the gradients arrive in the same arrays "
         "refilled each step: it keeps a reference to a gradient (self.v = grads[key]) where it should keep a "
         f"copy{raised(reused)}"),
        ("keys, not positions",
         "" if matches(reordered, reference) else "its steps change when params lists its keys in another order "
         f"from one call to the next: keep state by key (self.v[key]), not by position{raised(reordered)}"),
    ]


def attempt(run, **kwargs):
    """run(**kwargs)'s parameters, or the exception it raised."""
    try:
        return run(**kwargs)[0]
    except Exception as error:  # the learner's code fails under this use: what the check reports
        return error


def matches(result, reference) -> bool:
    return not isinstance(result, Exception) and all(same(result[key], reference[key]) for key in reference)


def raised(result) -> str:
    return f" (it raised {type(result).__name__}: {result})" if isinstance(result, Exception) else ""
