"""Records, the harness's only output, and the one helper that makes them."""
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .tolerances import tolerance

RECORD_KEYS = ("twin", "check", "dtype", "device", "max_abs_err", "max_rel_err", "tol", "passed")


@dataclass
class Record:
    """One comparison: what was compared, in which dtype and on which device, how far apart, and the verdict."""
    twin: str
    check: str
    dtype: str
    device: str
    max_abs_err: float
    max_rel_err: float
    tol: float
    passed: bool

    def as_dict(self):
        return asdict(self)


def as_float64(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def compare(twin, check, kind, numpy_value, torch_value, dtype, device, scale=None):
    """Compare the NumPy side's value with the torch side's (after any DESIGN.md relation).

    max_rel_err = max|numpy - torch| / scale, where scale is max|torch| unless
    given (a network passes the scale of all its gradients, so that the
    gradient of a bias that a batch norm cancels, pure rounding noise, is not
    divided by its own ~1e-17 size). Mismatched shapes or non-finite values fail.
    """
    actual, expected = as_float64(numpy_value), as_float64(torch_value)
    tol = tolerance(dtype, kind)
    if actual.shape != expected.shape or not (np.isfinite(actual).all() and np.isfinite(expected).all()):
        return Record(twin, check, dtype, str(device), float("inf"), float("inf"), tol, False)
    max_abs = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf"))
    return Record(twin, check, dtype, str(device), max_abs, max_rel, tol, bool(max_rel <= tol))
