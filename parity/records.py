"""Records, the harness's only output, and the one comparison that makes them (also the test suite's)."""
from dataclasses import dataclass

import numpy as np
import torch

from .tolerances import allowance, tolerance


@dataclass
class Record:
    """One comparison: what was compared, in which dtype and on which device, how far apart, and the verdict.

    worst_index: the index of the element with the largest error (() for a scalar);
    out_of_tolerance: how many of the `size` elements are further apart than tol * scale;
    numpy_value, torch_value: the two values at worst_index; numpy_shape, torch_shape: the two shapes;
    note: what went wrong, for a check that compares no values (parity.conduct).
    """
    twin: str
    check: str
    dtype: str
    device: str
    max_abs_err: float
    max_rel_err: float
    tol: float
    passed: bool
    worst_index: tuple = ()
    out_of_tolerance: int = 0
    size: int = 0
    numpy_value: float | None = None
    torch_value: float | None = None
    numpy_shape: tuple | None = None
    torch_shape: tuple | None = None
    note: str = ""

    def describe(self):
        """One line saying how the check failed (or passed): the shapes when they differ, else the worst
        element's index and the two values there."""
        if self.check.startswith("error: "):  # the twin raised: runner.run_job's record says what
            return self.check
        if self.note:
            return f"{self.check}: {self.note}"
        if self.numpy_shape is not None and self.numpy_shape != self.torch_shape:
            return (f"{self.check}: the shapes differ: numpy {self.numpy_shape}, torch {self.torch_shape} (the NumPy "
                    "side must return what torch's does)")
        values = (f" (numpy {self.numpy_value:.9g}, torch {self.torch_value:.9g})"
                  if self.numpy_value is not None else "")
        if self.max_abs_err == float("inf") and self.worst_index:
            return (f"{self.check}: {self.out_of_tolerance} of {self.size} elements are not finite (inf or nan), "
                    f"the first at index {list(self.worst_index)}{values}")
        where = f" at index {list(self.worst_index)}" if self.worst_index else ""
        verdict = ">" if not self.passed else "<="
        allows = allowance(self.check)
        meaning = f"; the tolerance allows {allows}" if allows and not self.passed else ""
        return (f"{self.check}: max rel err {self.max_rel_err:.3e} {verdict} tol {self.tol:.0e}{where}{values} "
                f"({self.out_of_tolerance} of {self.size} elements out of tolerance; max abs err "
                f"{self.max_abs_err:.3e}{meaning})")


def as_float64(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def compare(twin: str, check: str, kind: str, numpy_value, torch_value, dtype: str, device,
            scale: float | None = None) -> Record:
    """Compare the NumPy side's value with the torch side's (after any docs/design.md relation).

    max_rel_err = max|numpy - torch| / scale, where scale is max|torch| unless
    given (a network passes the scale of all its parameters or gradients, so that
    a bias that a batch norm cancels, pure rounding noise, is not divided by its
    own ~1e-17 size). Mismatched shapes or non-finite values fail.
    """
    actual, expected = as_float64(numpy_value), as_float64(torch_value)
    tol = tolerance(dtype, kind)
    shapes = {"numpy_shape": tuple(actual.shape), "torch_shape": tuple(expected.shape)}
    if actual.shape != expected.shape:
        return Record(twin, check, dtype, str(device), float("inf"), float("inf"), tol, False, (), expected.size,
                      expected.size, **shapes)
    finite = np.isfinite(actual) & np.isfinite(expected)
    if not finite.all():  # the worst element is the first one that is not finite (an overflow, a 0/0)
        first = np.unravel_index(int(np.argmin(finite)), finite.shape)
        return Record(twin, check, dtype, str(device), float("inf"), float("inf"), tol, False,
                      tuple(int(i) for i in first), int(np.count_nonzero(~finite)), int(finite.size),
                      float(actual[first]), float(expected[first]), **shapes)
    if not actual.size:
        return Record(twin, check, dtype, str(device), 0.0, 0.0, tol, True, **shapes)
    error = np.abs(actual - expected)
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    max_abs = float(error[worst])
    if scale is None:
        scale = float(np.max(np.abs(expected)))
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf"))
    out = int(np.count_nonzero(error > tol * scale)) if scale else int(np.count_nonzero(error))
    return Record(twin, check, dtype, str(device), max_abs, max_rel, tol, bool(max_rel <= tol),
                  tuple(int(i) for i in worst), out, int(error.size), float(actual[worst]), float(expected[worst]),
                  **shapes)


def cancelled_by_batchnorm(keys):
    """The biases b{i} that feed a batch norm (gamma{i} exists): the normalisation subtracts them
    out, so their true gradient is zero and what either side computes is rounding noise (~1e-17).
    Such a value is measured against the largest of its kind in the network, not its own size."""
    return {f"b{key[len('gamma'):]}" for key in keys if key.startswith("gamma")}


def scales(values):
    """The scale each array is compared at: its own largest magnitude, or the network's largest
    for the biases a batch norm cancels."""
    largest = max(float(np.max(np.abs(np.asarray(v, dtype=np.float64)))) for v in values.values())
    cancelled = cancelled_by_batchnorm(values)
    return {key: largest if key in cancelled else None for key in values}


def assert_close(actual, expected, kind: str, name: str = "", dtype: str = "float64",
                 scale: float | None = None) -> None:
    """The test suite's comparison: `compare` at the tolerance of `kind` (parity.tolerances), raising
    AssertionError with the worst element's index and the count out of tolerance when it fails."""
    record = compare("test", name or kind, kind, actual, expected, dtype, "cpu", scale)
    if not record.passed:
        raise AssertionError(record.describe())


def assert_all_close(actual: dict, expected: dict, kind: str, name: str = "", dtype: str = "float64") -> None:
    """assert_close for each array of a network's dict (params or gradients), keys alike, each at its
    `scales` scale: a bias that a batch norm cancels is measured against the network's largest value."""
    assert set(actual) == set(expected), f"{name}: keys {sorted(actual)} and {sorted(expected)} differ"
    for key, scale in scales(expected).items():
        assert_close(actual[key], expected[key], kind, f"{name} {key}".strip(), dtype, scale)
