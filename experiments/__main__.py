"""python -m experiments: list, run, or demo the experiments of chapters 4 to 8."""
import argparse
import os
import sys
from pathlib import Path

from dlfs_common.dataset_files import DatasetError

from .catalog import DEMO, EXPERIMENTS, UNUSED_OPTIONS, describe
from .common import Context


def add_run_options(parser):
    parser.add_argument("--backend", choices=["numpy", "torch", "both"], default="numpy",
                        help="numpy (hand-written), torch, or both from the same weights and batches (default numpy)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="torch device (default auto: cuda when present)")
    parser.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "mnist"],
                        help="default fashion-mnist; its IDX files are read from disk (see --download)")
    parser.add_argument("--download", action="store_true",
                        help="fetch the dataset through torchvision's downloader (its mirrors and checksums) "
                             "when its files are not on disk")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="default float32")
    parser.add_argument("--quick", action="store_true", help="a small slice and few epochs (seconds, not minutes)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and batch order (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="override the experiment's number of epochs")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    parser.add_argument("--acceleration", default="none", metavar="FLAGS",
                        help="torch training speed-ups, a comma-separated subset of compile, bf16 (float32 only), "
                             "cuda_graphs (CUDA only); --backend torch only (default none)")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m experiments",
                                     description="The experiments of Deep Learning from Scratch, chapters 4 to 8, "
                                                 "on the NumPy or the PyTorch backend.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments", description="List the experiments.")
    run = commands.add_parser("run", help="run one experiment",
                              description="Run one experiment; figures (PNG) and numbers (metrics.json) go to --out. "
                                          "An option the experiment has no use for is refused.")
    run.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME", help="an experiment (see `list`)")
    run.add_argument("--out", type=Path, default=None, help="output folder (default runs/NAME)")
    add_run_options(run)
    demo = commands.add_parser("demo", help="quick runs of a selection, the parity report, a gallery",
                               description=f"Run {', '.join(DEMO)} with --quick, then `python -m parity`; "
                                           "write a gallery page linking every figure.")
    demo.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default runs)")
    add_run_options(demo)
    bench = commands.add_parser("bench", help="ms per training step on every backend, as one table",
                                description="Time training steps of the MLP, SimpleConvNet and DeepConvNet on NumPy "
                                            "(float64, float32, the book's kernels) and torch (CPU, and CUDA when "
                                            "present), and check the speed targets.")
    bench.add_argument("--models", nargs="+", choices=["MLP", "SimpleConvNet", "DeepConvNet"],
                       default=["MLP", "SimpleConvNet", "DeepConvNet"], help="which networks (default all)")
    bench.add_argument("--steps", type=int, default=None,
                       help="steps in each timed block of a NumPy row, twice as many for torch (default: 20 MLP, "
                            "10 SimpleConvNet, 3 DeepConvNet)")
    bench.add_argument("--device", action="append", choices=["cpu", "cuda"],
                       help="torch devices (default: cpu, and cuda when present)")
    bench.add_argument("--acceleration", action="append", metavar="FLAGS",
                       help="a torch row with these speed-ups (compile, bf16, cuda_graphs, comma-separated) on each "
                            "device that can run them; repeatable (default: none on the CPU; on CUDA none, compile, "
                            "bf16, cuda_graphs and all three)")
    bench.add_argument("--rounds", type=int, default=5,
                       help="timed blocks per row, interleaved with the other rows' (default 5)")
    bench.add_argument("--epoch", choices=["auto", "all", "none"], default="auto",
                       help="time a full training epoch with the torch Trainer for SimpleConvNet and DeepConvNet: "
                            "auto on CUDA only (default), all on every device, or none")
    bench.add_argument("--epoch-images", type=int, default=60_000,
                       help="images in the timed epoch (default 60000, Fashion-MNIST's training set)")
    bench.add_argument("--epoch-loss", choices=["after-update", "same-forward", "both"], default="both",
                       help="which training loss the timed epoch records: the book's, from a second forward after "
                            "the update, the training forward's own, or both as separate rows (default both)")
    args = parser.parse_args(argv)
    if getattr(args, "epochs", None) is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    for option in ("steps", "rounds", "epoch_images"):
        if getattr(args, option, None) is not None and getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    if getattr(args, "seed", 0) < 0:
        parser.error(f"--seed must be >= 0 (NumPy's generators take no negative seed); got {args.seed}")
    if getattr(args, "out", None) is not None:
        check_output_folder(parser, args.out)
    if args.command == "run":
        for option in UNUSED_OPTIONS.get(args.name, ()):
            if getattr(args, option) != run.get_default(option):
                parser.error(f"{args.name} does not use --{option.replace('_', '-')}: it computes closed-form "
                             "functions in float64 on the CPU, without data, epochs or random draws")
    if args.command in ("run", "demo"):
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


def run_experiment(name, args, out):
    ctx = Context(name, backend=args.backend, device=args.device, dataset=args.dataset, quick=args.quick,
                  seed=args.seed, epochs=args.epochs, out=out, dtype=args.dtype, progress=args.progress,
                  acceleration=args.acceleration, download=args.download)
    print(f"== {name}: {describe(name)}")
    try:
        EXPERIMENTS[name](ctx)
    except KeyboardInterrupt:
        ctx.write_metrics(interrupted=True)
        print(f"\n{name} interrupted; what was written is kept in {ctx.out}", file=sys.stderr)
        raise
    ctx.write_metrics(interrupted=False)
    print(f"wrote {', '.join(str(p) for p in ctx.files)} ({ctx.metrics['wall_seconds']:.1f} s)")
    return ctx


def write_gallery(out, contexts, parity_markdown):
    lines = ["# Gallery", "", "Figures written by `python -m experiments demo`.", ""]
    for ctx in contexts:
        lines += [f"## {ctx.name}", "", describe(ctx.name), ""]
        lines += [line for line in ctx.metrics.get("summary", [])[:8] for line in (f"- {line}",)] + [""]
        lines += [f"![{p.name}]({p.relative_to(out).as_posix()})" for p in ctx.files if p.suffix == ".png"] + [""]
    if parity_markdown is not None:
        lines += ["## Parity report", "", parity_markdown.read_text()]
    path = out / "gallery.md"
    path.write_text("\n".join(lines))
    return path


def demo(args):
    from parity.__main__ import main as parity_main

    args.quick = True
    args.out.mkdir(parents=True, exist_ok=True)
    contexts = [run_experiment(name, args, args.out / name) for name in DEMO]
    parity_json, parity_markdown = args.out / "parity.json", args.out / "parity.md"
    print("== parity report")
    parity_status = parity_main(["--summary", "--json", str(parity_json), "--markdown", str(parity_markdown)])
    gallery = write_gallery(args.out, contexts, parity_markdown)
    written = [p for ctx in contexts for p in ctx.files] + [parity_json, parity_markdown, gallery]
    print("\nfiles written:")
    print("\n".join(f"  {p}" for p in written))
    return parity_status


def bench(args):
    import torch

    from torch_impl.acceleration import Acceleration

    from .bench import (EPOCH_LOSSES, EPOCH_TARGETS, default_accelerations, format_epochs, format_table, format_targets,
                        machine_description, run_benchmarks, runs_on, time_epoch)

    def progress(job):
        print(f"  {job}", file=sys.stderr)

    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not torch.cuda.is_available():
        print("python -m experiments bench: --device cuda was asked for, but no CUDA device is available",
              file=sys.stderr)
        return 2
    try:
        asked = [Acceleration.parse(text) for text in args.acceleration or []]
    except ValueError as error:
        print(f"python -m experiments bench: {error}", file=sys.stderr)
        return 2
    accelerations = default_accelerations(devices)
    if asked:
        accelerations = {device: [Acceleration()] + [a for a in asked if a != Acceleration() and runs_on(a, device)]
                         for device in devices}
    default_steps = {"MLP": 20, "SimpleConvNet": 10, "DeepConvNet": 3}
    steps = {model: args.steps or default_steps[model] for model in args.models}
    rows = run_benchmarks(args.models, steps, devices, accelerations, args.rounds, progress)
    epoch_devices = {"auto": [d for d in devices if d == "cuda"], "all": devices, "none": []}[args.epoch]
    losses = list(EPOCH_LOSSES) if args.epoch_loss == "both" else [args.epoch_loss.replace("-", " ")]
    epoch_rows = []
    for model in [m for m in args.models if m in EPOCH_TARGETS]:
        for device in epoch_devices:
            for acceleration in accelerations[device]:
                for loss in losses:
                    progress(f"epoch of {model} on {device} with acceleration {acceleration}, loss {loss}")
                    epoch_rows.append(time_epoch(model, device, acceleration, args.epoch_images, loss=loss))
    print(format_table(rows))
    if epoch_rows:
        print("\n" + format_epochs(epoch_rows))
    print(f"\n{machine_description(devices)}")
    print(format_targets(rows, devices, epoch_rows))
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.command == "list":
        width = max(map(len, EXPERIMENTS))
        print("\n".join(f"{name:{width}}  {describe(name)}" for name in EXPERIMENTS))
        return 0
    try:
        if args.command == "run":
            run_experiment(args.name, args, args.out)
            return 0
        if args.command == "bench":
            return bench(args)
        return demo(args)
    except (FileNotFoundError, DatasetError) as error:
        print(f"python -m experiments: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
