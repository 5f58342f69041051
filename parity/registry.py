"""The registry: every twin, declared once, by name.

A twin is named after its NumPy (book) class or function, with a suffix in
brackets for variants: `Convolution[2->3,3x3,stride=2,pad=1,in=9x8]`,
`Adam[stock eps]`, `DeepConvNet[trajectory,SGD]`. A suffix ending in `book`
marks the book's default configuration, checked through docs/design.md's relations.
Adding a layer means adding one twin to its module in parity/twins/ (docs/contributing.md, "Adding a twin").
"""
from fnmatch import fnmatchcase

from .twin import check_contract
from .twins.ddp import ddp_twins
from .twins.layers import layer_twins
from .twins.networks import network_twins, trajectory_twins
from .twins.optimizers import optimizer_twins
from .twins.rejections import rejection_twins


def all_twins() -> list:
    twins = (layer_twins() + optimizer_twins() + network_twins() + trajectory_twins() + ddp_twins()
             + rejection_twins())
    for twin in twins:
        check_contract(twin)
    names = [twin.name for twin in twins]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise RuntimeError(f"twin names must be unique; repeated: {duplicated}")
    return twins


def select(patterns: list[str] | None = None) -> list:
    """The twins whose name matches any pattern: an exact name or a shell glob ('Pooling*', '*Adam*'); one
    string is one pattern."""
    if isinstance(patterns, str):
        patterns = [patterns]
    twins = all_twins()
    if not patterns:
        return twins
    # a name is matched as itself first: twin names hold brackets, which a glob reads as a character set
    chosen = [twin for twin in twins if any(twin.name == pattern or fnmatchcase(twin.name, pattern)
                                            for pattern in patterns)]
    if not chosen:
        raise ValueError(f"no twin matches {patterns}; `python -m parity --list` shows the names")
    return chosen
