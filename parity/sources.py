"""The code behind a twin, as text: what `python -m parity --html` sets side by side."""
import inspect
import textwrap
from typing import NamedTuple

from torch import nn

OUR_PACKAGES = ("numpy_impl", "torch_impl", "dlfs_common", "parity")


class TwinSources(NamedTuple):
    """The NumPy code, the torch code (or the configuration that builds it) and the docs/design.md relation that
    maps one onto the other ('' where the two compute the same thing); numpy_methods: {name: source} of the
    NumPy class's forward, backward and update, wherever in its bases they are written."""
    numpy: str
    torch: str
    relation: str = ""
    numpy_methods: dict = {}


COMPUTING_METHODS = ("forward", "backward", "update")


def method_sources(cls) -> dict:
    """{name: source text} of the class's COMPUTING_METHODS that it or a base defines in readable source."""
    methods = {}
    for name in COMPUTING_METHODS:
        method = getattr(cls, name, None)
        if inspect.isfunction(method):
            try:
                methods[name] = textwrap.dedent(inspect.getsource(method)).rstrip()
            except (OSError, TypeError):
                pass
    return methods


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
