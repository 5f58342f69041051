"""The parity harness: feeds identical weights and batches to numpy_impl and torch_impl.

parity.check(MyAffine, "Affine") checks a learner's own layer, function or optimizer against the torch twins
of numpy_impl's (parity.learner).
"""


def check(implementation, name: str, dtypes=("float64", "float32"), device="cpu") -> bool:
    """parity.learner.check, imported on first use so that `import parity` stays light."""
    from .learner import check as check_against_torch

    return check_against_torch(implementation, name, dtypes, device)
