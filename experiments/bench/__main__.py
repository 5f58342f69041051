"""python -m experiments.bench: milliseconds per training step of the MLP, SimpleConvNet and DeepConvNet on
NumPy (float64, float32, the reference kernels) and torch (CPU, and CUDA when present), full-epoch times on CUDA,
and the speed targets, printed as tables; with --layers, each layer's forward and backward time on NumPy beside
torch's instead. A benchmark, not a test: it never fails because a machine is slow."""
import argparse
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m experiments.bench",
                                     description="Time training steps of the MLP, SimpleConvNet and DeepConvNet on "
                                                 "NumPy (float64, float32, the reference kernels) and torch (CPU, and "
                                                 "CUDA when present), and check the speed targets.")
    parser.add_argument("--models", nargs="+", choices=["MLP", "SimpleConvNet", "DeepConvNet"],
                        default=["MLP", "SimpleConvNet", "DeepConvNet"], help="which networks (default all)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps in each timed block of a NumPy row, twice as many for torch (default: 100 MLP, "
                             "10 SimpleConvNet, 3 DeepConvNet)")
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"],
                        help="torch devices (default: cpu, and cuda when present)")
    parser.add_argument("--acceleration", action="append", metavar="FLAGS",
                        help="a torch row with these speed-ups (compile, bf16, cuda_graphs, comma-separated) on each "
                             "device that can run them; repeatable (default: none on the CPU; on CUDA none, compile, "
                             "bf16, cuda_graphs and all three)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed blocks per row, interleaved with the other rows' (default 5)")
    parser.add_argument("--epoch", choices=["auto", "all", "none"], default="auto",
                        help="time a full training epoch with the torch Trainer for SimpleConvNet and DeepConvNet: "
                             "auto on CUDA only (default), all on every device, or none")
    parser.add_argument("--epoch-images", type=int, default=60_000,
                        help="images in the timed epoch (default 60000, Fashion-MNIST's training set)")
    parser.add_argument("--epoch-loss", choices=["after-update", "same-forward", "both"], default="both",
                        help="which training loss the timed epoch records: the book's, from a second forward after "
                             "the update, the training forward's own, or both as separate rows (default both)")
    parser.add_argument("--ranks", type=int, nargs="*", default=[1, 2], metavar="N",
                        help="data-parallel rows: the torch float32 step of SimpleConvNet and DeepConvNet on N "
                             "ranks (torch_impl.distributed: gloo, the CPU's cores shared out; NCCL, one GPU per "
                             "rank), the global batch shared among them (default 1 2; --ranks alone: none)")
    parser.add_argument("--layers", action="store_true",
                        help="instead of whole steps, time each layer's forward and backward in the networks' "
                             "training step (float32, CPU) on NumPy, with the reference kernels where the network "
                             "runs fast ones, beside the same layer in torch: where NumPy's time goes")
    parser.add_argument("--malloc", choices=["keep", "default"], default="keep",
                        help="keep: glibc's malloc keeps freed memory for the next step's arrays, as the Trainers and "
                             "python -m experiments have it (dlfs_common.memory); default: glibc's own thresholds, "
                             "under which large arrays are new memory at every step (default keep)")
    args = parser.parse_args(argv)
    if any(ranks < 1 for ranks in args.ranks):
        parser.error(f"--ranks must be at least 1; got {args.ranks}")
    no_convnet = not {"SimpleConvNet", "DeepConvNet"} & set(args.models)
    for option, asked in (("--ranks", args.ranks != parser.get_default("ranks") and args.ranks),
                          ("--epoch all", args.epoch == "all")):
        if asked and no_convnet:  # it would time nothing, and say nothing
            parser.error(f"{option} times SimpleConvNet and DeepConvNet; --models {' '.join(args.models)} has neither")
    for option in ("steps", "rounds", "epoch_images"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from dlfs_common.memory import keep_freed_memory
    from torch_impl.acceleration import Acceleration
    from torch_impl.devices import machine_description

    from .timing import (
        EPOCH_LOSSES,
        EPOCH_TARGETS,
        blas_description,
        default_accelerations,
        format_epochs,
        format_table,
        format_targets,
        run_benchmarks,
        runs_on,
        time_epoch,
        time_on_ranks,
    )

    def progress(job):
        print(f"  {job}", file=sys.stderr)

    kept = args.malloc == "keep" and keep_freed_memory()
    if args.layers:
        from .layers import format_layer_table, layer_rows
        rows = []
        for model in args.models:
            progress(f"layers of {model}")
            rows += layer_rows(model, args.rounds)
        print(format_layer_table(rows))
        print(f"\n{machine_description(['cpu'])}")
        print(blas_description())
        return 0

    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not torch.cuda.is_available():
        print("python -m experiments.bench: --device cuda was asked for, but no CUDA device is available",
              file=sys.stderr)
        return 2
    try:
        asked = [Acceleration.parse(text) for text in args.acceleration or []]
    except ValueError as error:
        print(f"python -m experiments.bench: {error}", file=sys.stderr)
        return 2
    accelerations = default_accelerations(devices)
    if asked:
        accelerations = {device: [Acceleration()] + [a for a in asked if a != Acceleration() and runs_on(a, device)]
                         for device in devices}
    # blocks of at least a tenth of a second: the MLP's 20-step blocks (30 ms) put its rounds' ratios 0.48-0.90
    # apart, 100-step blocks 0.55-0.76 (three runs each, 2 cores)
    default_steps = {"MLP": 100, "SimpleConvNet": 10, "DeepConvNet": 3}
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
    for model in [m for m in args.models if m in EPOCH_TARGETS]:
        for device in devices:
            for ranks in args.ranks:
                if device == "cuda" and ranks > torch.cuda.device_count():
                    progress(f"{ranks} ranks of {model} on CUDA: skipped, {torch.cuda.device_count()} GPU(s) here")
                    continue
                progress(f"{model} on {ranks} rank(s), {device}")
                rows.append(time_on_ranks(model, device, ranks, steps=10 if model == "SimpleConvNet" else 4))
    print(format_table(rows))
    if epoch_rows:
        print("\n" + format_epochs(epoch_rows))
    print(f"\n{machine_description(devices)}")
    print(blas_description())
    unavailable = " (keep: not glibc here)" if args.malloc == "keep" else ""
    print("malloc: " + ("glibc keeps freed memory for the next arrays (dlfs_common.memory)" if kept
                        else f"the C library's own thresholds{unavailable}"))
    print(format_targets(rows, devices, epoch_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
