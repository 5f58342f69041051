"""Views of the records: a text table, a Markdown summary, JSON."""
import json
import os
from dataclasses import asdict

from dlfs_common.files import atomic_write

HEADERS = ("twin", "check", "dtype", "device", "max abs err", "max rel err", "tol", "result")


def _row(record):
    return (record.twin, record.check, record.dtype, record.device, f"{record.max_abs_err:.2e}",
            f"{record.max_rel_err:.2e}", f"{record.tol:.0e}", "pass" if record.passed else "FAIL")


def worst_per_twin(records):
    """One record per (twin, dtype, device): the check with the largest error relative to its tolerance."""
    worst = {}
    for record in records:
        key = (record.twin, record.dtype, record.device)
        ratio = record.max_rel_err / record.tol if record.tol else float("inf")
        if key not in worst or ratio > worst[key][0]:
            worst[key] = (ratio, record)
    return [record for _, record in worst.values()]


def text_table(records):
    rows = [HEADERS] + [_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def failure_lines(records) -> list[str]:
    """One line per failed check: the twin, dtype and device, and how it failed (Record.describe: the shapes, or
    the worst element's index and two values)."""
    return [f"FAIL {r.twin} [{r.dtype}, {r.device}]: {r.describe()}" for r in records if not r.passed]


def summary_line(records):
    failed = sum(not r.passed for r in records)
    twins = len({r.twin for r in records})
    return (f"{plural(len(records), 'check')} of {plural(twins, 'twin')}: {len(records) - failed} passed, "
            f"{failed} failed")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def not_run_line(twins):
    """The sentence naming the twins no job ran (they need CUDA, or a dtype not asked for); '' if none."""
    if not twins:
        return ""
    return f"not run (they need a dtype or device not asked for or not here): {', '.join(t.name for t in twins)}"


def left_out_line(twins):
    """The sentence naming the twins that spawn processes, left out unless asked for; '' if none."""
    if not twins:
        return ""
    return (f"not run (they train on several processes, ~25 s each; --distributed runs them): "
            f"{', '.join(t.name for t in twins)}")


MARKDOWN_TITLE = "# The parity table"


def markdown_table(records, machine="", not_run=(), left_out=()):
    """The worst check of each twin per dtype and device, as a Markdown table, with the totals and
    the twins that were not run."""
    lines = [MARKDOWN_TITLE, "", "Written by `python -m parity --markdown FILE`.", "",
             f"{summary_line(records)}{f' ({machine})' if machine else ''}; each row is the check of that twin "
             "with the largest error relative to its tolerance.", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in _row(r)) + " |" for r in worst_per_twin(records)]
    for line in (not_run_line(not_run), left_out_line(left_out)):
        if line:
            lines += ["", line + "."]
    return "\n".join(lines) + "\n"


def check_output_path(label: str, path) -> None:
    """Raise ValueError, starting with `label`, for an output file whose folder is missing or not writable, or
    that is there and is not a regular file (a folder, a device): before any twin runs."""
    folder = os.path.dirname(os.path.realpath(path))
    if os.path.isdir(path):
        raise ValueError(f"{label}: it is a folder")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{label}: it is not a regular file (a device, FIFO or socket), which a report would replace")
    if not os.path.isdir(folder):
        raise ValueError(f"{label}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{label}: the folder {folder} is not writable")


def write_atomically(path, text):
    with atomic_write(path) as f:
        f.write(text.encode())


def json_text(records):
    return json.dumps([asdict(record) for record in records], indent=1)
