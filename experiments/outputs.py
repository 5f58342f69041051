"""Where an experiment's results go: PNG figures and metrics.json in its output folder.

metrics.json is rewritten after every record, and every file is written whole or not at all
(dlfs_common.files.atomic_write), so a run stopped with Ctrl-C keeps what it had.
"""
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dlfs_common.files import atomic_write  # noqa: E402
from torch_impl.devices import machine_description  # noqa: E402
from torch_impl.distributed import is_main_process, rank_and_size  # noqa: E402


class RunOutputs:
    """The output folder of one run, the files written there, and metrics.json's contents."""

    def __init__(self, name, out, settings, device):
        self.out = Path(out) if out is not None else Path("runs") / name
        # under torchrun every rank computes the same results; rank 0 alone writes and prints them
        self.writes = is_main_process()
        if self.writes:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise OSError(f"--out {self.out}: the output folder cannot be made ({error.strerror or error}); "
                              "pass --out a writable folder") from None
        self.files = []
        self.quiet = False  # summary lines go to metrics.json alone (the demo prints a line per experiment)
        # "finished" stays false until the run ends: a metrics.json of a run killed on the way says so
        self.metrics = {"experiment": name, "finished": False, "settings": settings,
                        "machine": machine_description([device]), "ranks": rank_and_size()[1], "results": {}}
        self.started = time.perf_counter()

    def record(self, key, value):
        """Store a result under metrics['results'][key] and rewrite metrics.json at once."""
        self.metrics["results"][key] = value
        self.write_metrics()

    def write_metrics(self, **extra):
        self.metrics.update(extra)
        self.metrics["wall_seconds"] = round(time.perf_counter() - self.started, 3)
        self._write(self.out / "metrics.json", json.dumps(to_json(self.metrics), indent=1).encode())

    def save_figure(self, fig, filename):
        """Write a figure as PNG via a temporary file, so an interrupted run never leaves half a file."""
        if not self.writes:
            plt.close(fig)
            return
        try:
            with atomic_write(self.out / filename) as f:
                fig.savefig(f, format="png", dpi=110)
        finally:
            plt.close(fig)
        self._remember(self.out / filename)

    def _write(self, path, data):
        if not self.writes:
            return
        with atomic_write(path) as f:
            f.write(data)
        self._remember(path)

    def _remember(self, path):
        if path not in self.files:
            self.files.append(path)

    def summary(self, line):
        if self.writes and not self.quiet:
            print(line)
        self.metrics.setdefault("summary", []).append(line)


def to_json(value):
    """Make NumPy and torch scalars and arrays JSON-serialisable."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN or infinity (a diverged run)
    if isinstance(value, Path):
        return str(value)
    return value
