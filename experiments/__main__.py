"""python -m experiments: list, run, or demo the experiments of chapters 4 to 8."""
import argparse
import os
import sys
from pathlib import Path

from dlfs_common.dataset_files import DatasetError
from dlfs_common.files import atomic_write
from dlfs_common.memory import keep_freed_memory
from dlfs_common.signals import signals_handled

from .catalog import (
    CHECKPOINT_OPTIONS,
    DEMO,
    EXPERIMENTS,
    SEARCH_OPTIONS,
    describe,
    docstring,
    epoch_defaults,
    experiment,
    unused_options,
)
from .checkpoints import (
    ResumeError,
    RunCheckpoints,
    RunInterrupted,
    StopRequests,
    has_checkpoints,
    restarted_by_torchrun,
    saved_metrics,
)
from .search import StorageError


def add_run_options(parser, unused=(), epochs=None, backend="numpy"):
    """The options of `run` and `demo`; those in `unused` are hidden (and refused when given).
    epochs: (default, --quick default) of the experiment, for the help text."""
    def shown(option, text):
        return argparse.SUPPRESS if option in unused else text

    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/NAME under the working folder; for demo, runs)")
    parser.add_argument("--backend", choices=["numpy", "torch", "both"], default=backend,
                        help=f"numpy (hand-written), torch, or both from the same weights and batches (default "
                             f"{backend})")
    parser.add_argument("--semantics", choices=["book", "pytorch"], default="book",
                        help=shown("semantics", "book: every backend trains with the book's loss (1e-7 in the log) "
                                                "and batch-norm running statistics (from 0), torch included; "
                                                "pytorch: every backend with PyTorch's (default book)"))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help=shown("device", "torch device (default auto: cuda when present)"))
    parser.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "mnist"],
                        help=shown("dataset", "default fashion-mnist; its IDX files are read from disk (see "
                                              "--download)"))
    parser.add_argument("--download", action="store_true",
                        help=shown("download", "fetch the dataset through torchvision's downloader (its mirrors "
                                               "and checksums) when its files are not on disk"))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                        help=shown("dtype", "default float32"))
    parser.add_argument("--quick", action="store_true", help="a small slice and few epochs (seconds, not minutes)")
    parser.add_argument("--seed", type=int, default=0,
                        help=shown("seed", "seed for weights and batch order (default 0)"))
    epochs_help = (f"number of epochs (default {epochs[0]}, with --quick {epochs[1]})" if epochs
                   else "override the experiment's number of epochs")
    parser.add_argument("--epochs", type=int, default=None, help=shown("epochs", epochs_help))
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help=shown("trials", "trials of the search (default 100, with --quick 6), in all workers "
                                             "together"))
    parser.add_argument("--workers", type=int, default=1, metavar="K",
                        help=shown("workers", "worker processes on this machine (default 1); workers elsewhere join "
                                              "with the same command and --storage"))
    parser.add_argument("--storage", default=None, metavar="URL|FILE",
                        help=shown("storage", "the study's storage: an RDB URL (sqlite:///search.db, "
                                              "postgresql://user@host/db) or a journal file (default "
                                              "OUT/study.journal); the same storage continues an interrupted search"))
    parser.add_argument("--resume", action="store_true",
                        help=shown("resume", "continue the interrupted run whose checkpoints are in --out (the same "
                                             "settings; it ends where an uninterrupted run ends)"))
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help=shown("checkpoint_every", "also write the checkpoints every N steps (default: at the end "
                                                       "of every epoch, and when stopped by SIGTERM or Ctrl-C)"))
    parser.add_argument("--acceleration", default="none", metavar="FLAGS",
                        help=shown("acceleration", "torch training speed-ups, a comma-separated subset of compile, "
                                                   "bf16 (float32 only), cuda_graphs (CUDA only); --backend torch "
                                                   "only (default none)"))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m experiments",
                                     description="The experiments of Deep Learning from Scratch, chapters 4 to 8, "
                                                 "on the NumPy or the PyTorch backend.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments", description="List the experiments.")
    run = commands.add_parser("run", help="run one experiment (`run NAME --help`: its options)",
                              description="Run one experiment; figures (PNG) and numbers (metrics.json) go to --out. "
                                          "`run NAME --help` describes NAME and the options it takes.")
    experiments = run.add_subparsers(dest="name", required=True, metavar="NAME")
    for name in EXPERIMENTS:
        unused = unused_options(name)
        parser_of_experiment = experiments.add_parser(name, help=describe(name).replace("%", "%%"),  # argparse's %
                                                      description=docstring(name))
        add_run_options(parser_of_experiment, unused, epoch_defaults(name))
        parser_of_experiment.set_defaults(unused=unused, parser=parser_of_experiment)
    demo = commands.add_parser("demo", help="quick runs of a selection, the parity report, a gallery",
                               description=f"Run {', '.join(DEMO)} with --quick, then `python -m parity`; "
                                           "write a gallery page linking every figure.")
    demo_unused = {**dict.fromkeys(SEARCH_OPTIONS, "the demo runs no hyper-parameter search"),
                   **dict.fromkeys(CHECKPOINT_OPTIONS, "the demo's runs are quick: run it again instead")}
    add_run_options(demo, unused=demo_unused, backend="both")
    demo.set_defaults(out=Path("runs"), unused=demo_unused, name="demo")
    commands.add_parser("bench", add_help=False, help="ms per training step on every backend, as one table "
                                                      "(python -m experiments.bench --help)")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["bench"]:  # a tool of its own, with its own options
        return argparse.Namespace(command="bench", bench_argv=argv[1:])
    args = parser.parse_args(argv)
    if args.command == "list":
        return args
    parser = getattr(args, "parser", demo)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.trials is not None and args.trials < 1:
        parser.error(f"--trials must be at least 1; got {args.trials}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1; got {args.workers}")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        parser.error(f"--checkpoint-every must be at least 1; got {args.checkpoint_every}")
    if not 0 <= args.seed < 2 ** 64:
        parser.error(f"--seed must be in [0, 2**64) (NumPy's generators take no negative seed, torch's no more "
                     f"than 64 bits); got {args.seed}")
    if args.command == "run" and args.out is None:
        args.out = Path("runs") / args.name
    check_output_folder(parser, args.out)
    if args.command == "run":
        check_folder_is_this_experiments(parser, args.out, args.name)
    for option, why in getattr(args, "unused", {}).items():
        if getattr(args, option) != parser.get_default(option):
            parser.error(f"{args.name} does not use --{option.replace('_', '-')}: {why}")
    check_acceleration(parser, args)
    return args


def check_output_folder(parser, out):
    """Stop with a message unless `out` is, or can be made, a writable folder."""
    existing = next((folder for folder in (out, *out.parents) if folder.exists()), Path("."))
    if existing == out and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    if not existing.is_dir():
        parser.error(f"--out {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        parser.error(f"--out {out}: {existing} is not writable")


def check_folder_is_this_experiments(parser, out, name):
    """Stop with a message if `out` holds the results of another experiment, whose metrics.json this run would
    replace beside the other's figures."""
    written_by = saved_metrics(out).get("experiment")  # None: nothing of another experiment's there
    if written_by not in (None, name):
        parser.error(f"--out {out} holds the results of {written_by} (its metrics.json); give {name} a folder of "
                     "its own")


def check_acceleration(parser, args):
    """Turn --acceleration into an Acceleration, or stop with the reason it cannot run."""
    import torch

    from torch_impl.acceleration import Acceleration
    from torch_impl.devices import resolve_device
    try:
        args.acceleration = Acceleration.parse(args.acceleration)
        if args.acceleration != Acceleration() and args.backend != "torch":
            raise ValueError(f"--acceleration applies to --backend torch; got --backend {args.backend} (with "
                             "both, the sides are compared step by step: torch runs as the NumPy side computes)")
        args.acceleration.check(resolve_device(args.device), getattr(torch, args.dtype))
    except ValueError as error:
        parser.error(str(error))


def run_experiment(name, args, out, quiet=False):
    """Run experiment `name` with the options in `args`, its outputs in `out`; quiet: one line when it ends
    instead of its summary lines and agreement (the demo)."""
    from .context import Context

    ctx = Context(name, backend=args.backend, device=args.device, dataset=args.dataset, quick=args.quick,
                  seed=args.seed, epochs=args.epochs, out=out, dtype=args.dtype, progress=args.progress,
                  acceleration=args.acceleration, download=args.download, trials=args.trials, workers=args.workers,
                  storage=args.storage, semantics=args.semantics)
    if args.command == "run" and "resume" not in args.unused:
        settings = {"experiment": name, **ctx.metrics["settings"], "checkpoint_every": args.checkpoint_every}
        resume = args.resume or restarted_by_torchrun()
        ctx.checkpoints = RunCheckpoints(ctx.out, settings, resume and (args.resume or has_checkpoints(ctx.out)),
                                         args.checkpoint_every, ctx.writes, save_on_stop=ctx.metrics["ranks"] == 1)
        if ctx.writes:
            ctx.weights_folder = ctx.out / "weights"
    stops = ctx.checkpoints.stops if ctx.checkpoints else StopRequests()
    try:  # SIGTERM stops it as Ctrl-C does: metrics.json says interrupted, a search's workers stop too
        with signals_handled(stops.handle):
            ctx.quiet = quiet
            if ctx.writes and not quiet:
                print(f"== {name}: {describe(name)}"
                      + (" (resumed)" if ctx.checkpoints and ctx.checkpoints.resume else ""))
                if "torch" in ctx.backends and "device" not in unused_options(name):
                    print(f"torch runs on {ctx.device}" + (" (--device auto: the GPU where there is one, else "
                                                          "the CPU)" if args.device == "auto" else ""))
            try:
                experiment(name)(ctx)
            except KeyboardInterrupt:
                ctx.write_metrics(interrupted=True)
                kept = (f"; its checkpoints are in {ctx.checkpoints.folder}: the same command with --resume "
                        "continues it" if ctx.checkpoints else "")
                print(f"\n{name} interrupted; what was written is kept in {ctx.out}{kept}", file=sys.stderr)
                raise
            ctx.write_metrics(interrupted=False, finished=True)
            if ctx.checkpoints:  # only now: a kill before metrics.json is whole leaves a run --resume finishes
                ctx.checkpoints.finish()
    finally:  # for a process that goes on (a notebook, the tests): the run's folder free for another run
        if ctx.checkpoints:
            ctx.checkpoints.finish_lock()
    if ctx.writes and quiet:
        print(f"{name} ({ctx.metrics['wall_seconds']:.0f} s): {agreement_verdict(ctx)}")
    elif ctx.writes:
        print(f"wrote {', '.join(str(p) for p in ctx.files)} ({ctx.metrics['wall_seconds']:.1f} s)")
    return ctx


def trainings(count: int) -> str:
    return f"{count} training{'' if count == 1 else 's'}"


def agreement_verdict(ctx) -> str:
    """One phrase: how the two backends' results agreed in this run, against what the experiment states."""
    records = ctx.metrics.get("backend_agreement", {})
    if not records:
        return "NumPy and torch computed every result side by side" if ctx.both else "one backend"
    verdicts = [record.get("within_stated_agreement") for record in records.values()]
    if None in verdicts:
        worst = max(record["final_test_acc_difference"] for record in records.values())
        return f"{trainings(len(records))} on both backends; final test accuracies at most {worst:.3f} apart"
    held = sum(verdicts)
    return (f"{trainings(len(records))} on both backends, {held} within the agreement the experiment states"
            + ("" if held == len(records) else f", {len(records) - held} OUTSIDE it"))


def write_gallery(out, contexts, parity_markdown):
    from parity.report import MARKDOWN_TITLE

    lines = ["# Gallery", "", "Figures written by `python -m experiments demo`: quick runs (`--quick`: a slice of the "
             "data, a few epochs), which show each chapter's point but not the book's final accuracies; "
             "`python -m experiments run NAME` without `--quick` runs the book's settings.", ""]
    agreement = [(ctx.name, label, record) for ctx in contexts
                 for label, record in ctx.metrics.get("backend_agreement", {}).items()]
    if agreement:
        lines += ["## NumPy and torch, side by side", "",
                  "Each training ran on both backends from the same weights, batches and dropout masks (NumPy "
                  "solid, torch dashed in the figures). How far apart they ended, and whether that is within "
                  "what the experiment states (`experiments.catalog.AGREEMENT`, with why):", "",
                  "| experiment | training | max loss difference | final test accuracy difference | stated |",
                  "|---|---|---|---|---|"]
        for name, label, record in agreement:
            loss = record["max_loss_difference"]
            stated = {True: "within", False: "OUTSIDE", None: "none stated"}[record.get("within_stated_agreement")]
            lines.append(f"| {name} | {label} | {'-' if loss is None else f'{loss:.2e}'} | "
                         f"{record['final_test_acc_difference']:.4f} | {stated} |")
        lines.append("")
    for ctx in contexts:
        lines += [f"## {ctx.name}", "", describe(ctx.name) + " (quick run)", ""]
        lines += [line for line in ctx.metrics.get("summary", [])[:8] for line in (f"- {line}",)] + [""]
        lines += [f"![{p.name}]({p.relative_to(out).as_posix()})" for p in ctx.files if p.suffix == ".png"] + [""]
    if parity_markdown is not None:
        # under the gallery's own heading, without the table's title
        lines += ["## Parity report", "", parity_markdown.read_text().removeprefix(MARKDOWN_TITLE).lstrip()]
    path = out / "gallery.md"
    with atomic_write(path) as f:
        f.write("\n".join(lines).encode())
    return path


def demo(args):
    import contextlib
    import io

    from parity.__main__ import main as parity_main

    args.quick, args.progress = True, False
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"the demo: quick runs of {len(DEMO)} experiments on {args.backend}, then the parity report "
          f"(about a minute on 2 cores); everything goes to {args.out}/")
    contexts = [run_experiment(name, args, args.out / name, quiet=True) for name in DEMO]
    parity_json, parity_markdown = args.out / "parity.json", args.out / "parity.md"
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        parity_status = parity_main(["--summary", "--json", str(parity_json), "--markdown", str(parity_markdown)])
    summary = [line for line in report.getvalue().splitlines() if " checks of " in line]
    print(f"parity report: {summary[-1] if summary else report.getvalue().strip()[-300:]}")
    for line in report.getvalue().splitlines():
        if line.startswith("FAIL "):
            print(line)
    gallery = write_gallery(args.out, contexts, parity_markdown)
    print(f"the figures, the two backends' agreement and the parity table: {gallery} (each run's numbers in its "
          f"metrics.json, the parity checks in {parity_json})")
    return parity_status


def run_under_torchrun(args) -> int:
    """`torchrun ... -m experiments run NAME --backend torch`: every rank trains its share of each batch
    (torch_impl.distributed), rank 0 alone shows progress and writes the outputs."""
    from torch_impl.distributed import launched_by_torchrun, start_from_environment

    if args.command != "run" or args.backend != "torch":
        print("python -m experiments: under torchrun, `run NAME --backend torch` only (the NumPy side and the demo "
              "run in one process)", file=sys.stderr)
        return 2
    if args.name == "hyperparameter_optimization":
        print("python -m experiments: the search runs its trials in worker processes of its own: use --workers "
              "and --storage instead of torchrun", file=sys.stderr)
        return 2
    if not launched_by_torchrun():
        print("python -m experiments: WORLD_SIZE is set, but not the rest of torchrun's environment", file=sys.stderr)
        return 2
    import torch.distributed as dist

    try:
        args.device = str(start_from_environment(args.device))
        if dist.get_rank() != 0:
            args.progress = False
        run_experiment(args.name, args, args.out)
        return 0
    except RunInterrupted as interrupted:
        return 128 + interrupted.signum
    except (OSError, DatasetError, RuntimeError, ValueError) as error:
        print(f"python -m experiments [rank {dist.get_rank() if dist.is_initialized() else '?'}]: {error}",
              file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "list":
        width = max(map(len, EXPERIMENTS))
        print("\n".join(f"{name:{width}}  {describe(name)}" for name in EXPERIMENTS))
        return 0
    if args.command in ("run", "demo"):
        keep_freed_memory()  # each training step reuses the last one's memory: see dlfs_common.memory
    if os.environ.get("WORLD_SIZE") is not None and args.command in ("run", "demo"):
        return run_under_torchrun(args)
    try:
        if args.command == "run":
            run_experiment(args.name, args, args.out)
            return 0
        if args.command == "bench":
            from .bench.__main__ import main as bench_main
            return bench_main(args.bench_argv)
        return demo(args)
    except (OSError, DatasetError, StorageError, ResumeError) as error:  # a file, a full disk, bad data, a resume
        print(f"python -m experiments: {error}", file=sys.stderr)
        return 2
    except RunInterrupted as interrupted:
        return 128 + interrupted.signum
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
