"""python -m parity: run the twin registry and report every check."""
import argparse
import os
import signal
import sys
import time

import torch
from tqdm import tqdm

from dlfs_common.memory import keep_freed_memory
from dlfs_common.signals import StopSignal, raise_stop, signals_handled
from torch_impl.devices import available_devices, machine_description

from . import registry, runner
from .html import html_page
from .report import (
    check_output_path,
    failure_lines,
    json_text,
    left_out_line,
    markdown_table,
    not_run_line,
    summary_line,
    text_table,
    worst_per_twin,
    write_atomically,
)
from .tolerances import DTYPES


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m parity",
        description="Compare numpy_impl and torch_impl twin by twin (forward outputs, gradients, optimizer "
                    "steps, training trajectories) and print the measured error of every check. "
                    "Exits with status 1 if any check fails. For a learner's own code: `python -m parity grade "
                    "FILE` and `python -m parity exercises DIR --chapter N` (each with --help).")
    parser.add_argument("--twin", action="append", metavar="PATTERN",
                        help="only twins whose name is PATTERN or matches it as a glob ('Pooling*'); repeatable")
    parser.add_argument("--exclude", action="append", metavar="PATTERN",
                        help="leave out the twins whose name is PATTERN or matches it as a glob ('*ddp*'); repeatable")
    parser.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype; repeatable (default both)")
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"],
                        help="only this device; repeatable (default: cpu, and cuda when present)")
    parser.add_argument("--json", metavar="PATH", help="write all records as a JSON list to PATH")
    parser.add_argument("--markdown", metavar="PATH", help="write the per-twin summary table (Markdown) to PATH")
    parser.add_argument("--html", metavar="PATH",
                        help="write one self-contained page to PATH: each twin's NumPy and torch code side by side, "
                             "the relation between them, and the errors measured in this run")
    parser.add_argument("--summary", action="store_true", help="print one row per twin and dtype (its worst check)")
    parser.add_argument("--distributed", action="store_true",
                        help="also run the twins that train on several processes (the data-parallel ones, ~25 s "
                             "each); a --twin pattern that names them runs them too")
    parser.add_argument("--list", action="store_true", help="list the twin names and exit")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="run the twins in N processes, the CPU's cores shared among them; 1 runs them all in "
                             "this process (default: one per core, at most 8, when the twins include training "
                             "runs; else 1, as starting a process costs more than the other twins take)")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1; got {args.jobs}")
    return args


def learner_command(argv) -> int:
    """`grade FILE` and `exercises DIR --chapter N`: the learner's commands (parity.grade)."""
    from .grade import CHAPTERS, MAX_TIME_LIMIT, TIME_LIMIT, GradeError, grade, write_exercises

    parser = argparse.ArgumentParser(prog="python -m parity", description="Grade a learner's file of the book's "
                                     "pieces against PyTorch, or write blank pieces to fill in.")
    commands = parser.add_subparsers(dest="command", required=True)
    grading = commands.add_parser("grade", help="check every piece FILE defines under a book's name (Relu, "
                                                "Affine, SGD, Convolution, ...), chapter by chapter; exit 1 if one "
                                                "fails, 2 if FILE defines none or cannot be imported")
    grading.add_argument("file", metavar="FILE", help="a Python file of your pieces (my_layers.py)")
    grading.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype; repeatable (default both)")
    grading.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="SECONDS",
                         help=f"a piece whose checks take longer fails, and the others are graded (default "
                              f"{TIME_LIMIT:g})")
    blanks = commands.add_parser("exercises", help="write DIR/chapter_N.py: chapter N's pieces, blank, each with "
                                                   "its docstring and the book's signature")
    blanks.add_argument("folder", metavar="DIR", help="the folder to write chapter_N.py into (made if missing)")
    blanks.add_argument("--chapter", required=True, choices=list(CHAPTERS), help="the book's chapter (3-4: the "
                        "activation functions and softmax; 5: layers; 6: optimizers, batch norm, dropout; 7: "
                        "convolution and pooling)")
    args = parser.parse_args(argv)
    if args.command == "grade" and not 0 < args.time_limit <= MAX_TIME_LIMIT:  # nan and inf included
        parser.error(f"--time-limit must be a number of seconds above 0, at most {MAX_TIME_LIMIT:g}; got "
                     f"{args.time_limit}")
    try:
        if args.command == "exercises":
            path = write_exercises(args.folder, args.chapter)
            print(f"wrote {path}: fill in its pieces, then `python -m parity grade {path}`")
            return 0
        status, report = grade(args.file, tuple(args.dtype or DTYPES), args.time_limit)
    except (GradeError, OSError) as error:
        print(f"python -m parity {args.command}: {error}", file=sys.stderr)
        return 2
    except StopSignal as stopped:
        print(f"\npython -m parity {args.command}: interrupted before every piece was checked: no verdict",
              file=sys.stderr)
        return 128 + stopped.signum
    print(report)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["grade"], ["exercises"]):
        return learner_command(argv)
    args = parse_args(argv)
    try:
        with signals_handled(raise_stop, (signal.SIGTERM,)):  # the worker processes are stopped on the way out
            return run(args)
    except (ValueError, OSError) as error:  # a selection of nothing, an output that cannot be written
        print(f"python -m parity: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupted:
        print("\npython -m parity: interrupted before every twin ran: no verdict", file=sys.stderr)
        return 128 + getattr(interrupted, "signum", signal.SIGINT)


def check_output_paths(args) -> None:
    """Raise ValueError for an output file whose folder is missing or not writable, or that two options name
    (the last report written would replace the other), before any twin runs."""
    named = {}
    for option in ("json", "markdown", "html"):
        if getattr(args, option) is not None:
            check_output_path(f"--{option} {getattr(args, option)}", getattr(args, option))
            same = named.setdefault(os.path.realpath(getattr(args, option)), option)
            if same != option:
                raise ValueError(f"--{same} and --{option} both name {getattr(args, option)}: each report needs a "
                                 "file of its own")


def run(args) -> int:
    check_output_paths(args)
    twins = registry.select(args.twin)
    if args.exclude:
        excluded = {twin.name for twin in registry.select(args.exclude)}
        kept = [twin for twin in twins if twin.name not in excluded]
        if not kept:
            raise runner.NothingChecked(f"--exclude {' '.join(args.exclude)} left out every one of the "
                                        f"{len(twins)} twins selected: nothing to check")
        twins = kept
    if args.list:
        print("\n".join(twin.name for twin in twins))
        return 0
    keep_freed_memory()  # the trajectories' steps reuse each other's memory: see dlfs_common.memory
    left_out = []
    if not (args.distributed or args.twin):
        left_out = [twin for twin in twins if getattr(twin, "spawns_processes", False)]
        twins = [twin for twin in twins if not getattr(twin, "spawns_processes", False)]
    devices = args.device or available_devices()
    if "cuda" in devices and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA device is available")
    jobs = runner.require_jobs(runner.jobs(twins, args.dtype or DTYPES, devices), twins, args.dtype or DTYPES,
                               devices)
    start = time.perf_counter()
    with tqdm(total=len(jobs), desc="parity", unit="twin", leave=False, file=sys.stderr) as bar:
        def done(job):
            twin, dtype, device = job
            bar.set_postfix_str(f"{twin.name} {dtype} {device}", refresh=False)
            bar.update()
        workers = args.jobs or runner.default_workers(jobs, os.cpu_count() or 1)
        records = runner.run_jobs(jobs, workers, done)
    seconds = time.perf_counter() - start
    print(text_table(worst_per_twin(records) if args.summary else records))
    for line in failure_lines(records):
        print(line)
    machine = machine_description(devices)
    print(f"\n{summary_line(records)} in {seconds:.1f} s on {machine}")
    skipped = runner.not_run(twins, args.dtype or DTYPES, devices)
    for line in (not_run_line(skipped), left_out_line(left_out)):
        if line:
            print(line)
    if not records:  # every job returns its records; a twin that returned none proves nothing either
        raise runner.NothingChecked(f"the {len(jobs)} jobs selected returned no check")
    if args.json:
        write_atomically(args.json, json_text(records))
    if args.markdown:
        write_atomically(args.markdown, markdown_table(records, machine, skipped, left_out))
    if args.html:
        write_atomically(args.html, html_page(twins, records, machine))
    return 0 if all(r.passed for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
