"""The code behind a twin, as text: what `python -m parity --html` sets side by side."""
import inspect
import textwrap
from typing import NamedTuple

from torch import nn

OUR_PACKAGES = ("numpy_impl", "torch_impl", "dlfs_common", "parity")


class TwinSources(NamedTuple):
    """The NumPy code, the torch code (or the configuration that builds it) and the DESIGN.md relation that
    maps one onto the other ('' where the two compute the same thing)."""
    numpy: str
    torch: str
    relation: str = ""


def ours(obj) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] in OUR_PACKAGES


def source_of(obj) -> str:
    """Source text of a function, class or lambda of this project; for a stock torch module its configuration
    (repr), for one of ours its class; for anything else its qualified name."""
    if isinstance(obj, nn.Module) and not ours(type(obj)):
        return f"torch.nn: {obj!r}"
    if isinstance(obj, nn.Module):
        return source_of(type(obj))
    if inspect.isfunction(obj) or inspect.isclass(obj):
        try:
            return textwrap.dedent(inspect.getsource(obj)).rstrip()
        except (OSError, TypeError):
            pass
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return f"{module}.{name}"


def doc_of(function) -> str:
    """The docstring of a relation, dedented; '' for none."""
    return inspect.cleandoc(function.__doc__ or "")
