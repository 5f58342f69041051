"""One runner: registry in, records out. The pytest suite and `python -m parity` both use it."""
import traceback
from contextlib import nullcontext

from torch_impl.devices import available_devices, exact_mode

from .records import Record
from .tolerances import DTYPES


def jobs(twins: list, dtypes: tuple = DTYPES, devices=None) -> list[tuple]:
    """Every (twin, dtype, device) to run: the twin's own dtypes and devices only, CUDA only where present."""
    devices = available_devices() if devices is None else devices
    return [(twin, dtype, device) for twin in twins for dtype in dtypes if dtype in twin.dtypes
            for device in devices if str(device).split(":")[0] in twin.devices]


def not_run(twins: list, dtypes: tuple = DTYPES, devices=None) -> list:
    """The twins that none of the jobs run: they need a dtype or a device (CUDA) not asked for or not here."""
    running = {id(twin) for twin, _, _ in jobs(twins, dtypes, devices)}
    return [twin for twin in twins if id(twin) not in running]


def run_job(twin, dtype: str, device) -> list[Record]:
    """A twin's records for one dtype and device; an exception becomes one failing record."""
    try:
        with exact_mode() if device != "cpu" else nullcontext():
            return twin.run(dtype, device)
    except Exception as error:  # a crash is a finding to report, next to the other results
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return [Record(twin.name, f"error: {detail}", dtype, str(device), float("inf"), float("inf"), 0.0, False)]
