"""The demo run of `make demo`: a MultiLayerNet trained on Fashion-MNIST with the
NumPy backend, its learning curves saved as a PNG and its numbers as JSON."""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from numpy_impl.datasets import load_mnist  # noqa: E402
from numpy_impl.networks import MultiLayerNet  # noqa: E402
from numpy_impl.trainer import Trainer  # noqa: E402
from numpy_impl.util import smooth_curve  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.demo",
        description="Train the book's MultiLayerNet (4 hidden ReLU layers of 100, He init, Adam) on "
                    "Fashion-MNIST with the NumPy backend and draw its learning curves.")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=int, default=100, help="mini-batch size (default 100)")
    parser.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default 0.001)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only the first N training images (default: all 60,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and batch order (default 0)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def save_figure(fig, path):
    """Write a figure via a temporary file so an interrupted run never leaves half a PNG."""
    tmp = path.with_name(path.name + ".part")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, path)
    plt.close(fig)


def plot_curves(trainer, path):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    steps = np.arange(1, len(trainer.train_loss_list) + 1)
    ax_loss.plot(steps, trainer.train_loss_list, alpha=0.3, label="per step")
    ax_loss.plot(steps, smooth_curve(np.array(trainer.train_loss_list)), label="smoothed")
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    ax_loss.legend()
    epochs = np.arange(len(trainer.train_acc_list))
    ax_acc.plot(epochs, trainer.train_acc_list, marker="o", label="train")
    ax_acc.plot(epochs, trainer.test_acc_list, marker="s", label="test")
    ax_acc.set(xlabel="epoch (accuracy measured at its first step)", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    fig.suptitle("MultiLayerNet [100]*4 on Fashion-MNIST, NumPy backend")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
    x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    args.out.mkdir(parents=True, exist_ok=True)

    net = MultiLayerNet(784, [100] * 4, 10, activation="relu", weight_init_std="he",
                        dtype=np.float32, rng=np.random.default_rng(args.seed))
    bar = tqdm(desc="training", unit="step", leave=False)

    def progress(step, total, loss):
        bar.total = total
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.update()

    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=args.batch_size,
                      optimizer="Adam", optimizer_param={"lr": args.lr}, verbose=False, seed=args.seed,
                      progress=progress)
    start = time.perf_counter()
    try:
        test_acc = trainer.train()
    except KeyboardInterrupt:
        test_acc = None
        print(f"\ninterrupted after {trainer.current_iter} steps; saving what was trained so far")
    finally:
        bar.close()
    seconds = time.perf_counter() - start

    figure = args.out / "learning_curve.png"
    plot_curves(trainer, figure)
    metrics = {
        "network": "MultiLayerNet(784, [100]*4, 10, relu, he), float32", "backend": "numpy",
        "optimizer": {"name": "Adam", "lr": args.lr}, "epochs": args.epochs, "batch_size": args.batch_size,
        "train_size": len(x_train), "seed": args.seed, "steps": trainer.current_iter,
        "train_loss": trainer.train_loss_list, "train_acc": trainer.train_acc_list,
        "test_acc_per_epoch": trainer.test_acc_list, "final_test_acc": test_acc,
        "wall_seconds": round(seconds, 2), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    final = "n/a (interrupted)" if test_acc is None else f"{test_acc:.4f}"
    print(f"{trainer.current_iter} steps in {seconds:.1f} s; final test accuracy {final}")
    print(f"wrote {figure} and {args.out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
