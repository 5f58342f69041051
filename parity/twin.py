"""The contract every twin keeps, which the runner and the registry rely on.

A twin has a unique `name` (its NumPy class or function, with variants in brackets), the
`dtypes` and `devices` it runs on, `run(dtype, device)`, which returns its Records: one per
check, each made by records.compare with the check's tolerance kind passed explicitly, and
`sources()`, the code of both sides and the relation between them (sources.TwinSources), which
`python -m parity --html` shows side by side.
"""
from typing import NamedTuple, Protocol, runtime_checkable

from .records import Record
from .tolerances import DTYPES

DEVICES = ("cpu", "cuda")


@runtime_checkable
class Twin(Protocol):
    name: str
    dtypes: tuple
    devices: tuple

    def run(self, dtype: str, device) -> list[Record]: ...

    def sources(self): ...


class Check(NamedTuple):
    """One check of a twin: its tolerance kind ('forward', 'grad', 'state', ...) and what it looks at ('x',
    'W', 'running_var'; '' for a layer's output). Its label in the records is 'kind' or 'kind:name'."""
    kind: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


def check_contract(twin) -> None:
    """Raise TypeError naming the twin and what it lacks, unless it keeps the contract."""
    if not isinstance(twin, Twin):
        missing = [attribute for attribute in ("name", "dtypes", "devices", "run", "sources")
                   if not hasattr(twin, attribute)]
        raise TypeError(f"{getattr(twin, 'name', twin)!r} is not a twin: it lacks {missing}")
    unknown = sorted(set(twin.dtypes) - set(DTYPES)) + sorted(set(twin.devices) - set(DEVICES))
    if unknown:
        raise TypeError(f"twin {twin.name!r} names dtypes or devices the harness does not know: {unknown}; "
                        f"expected dtypes among {DTYPES} and devices among {DEVICES}")
