"""Chapter 5: training TwoLayerNet with backpropagation, checked against numerical gradients."""
import numpy as np

from numpy_impl.networks import TwoLayerNet

from .gradient_check import gradient_check
from .plotting import save_training_figure
from .training import Net


def train_neuralnet(ctx):
    """TwoLayerNet(784, 50, 10) with SGD: the learning curves, and the backprop-versus-numerical gradient check."""
    differences = gradient_check(ctx, TwoLayerNet(784, 50, 10, rng=np.random.default_rng(ctx.seed)))
    ctx.record("gradient_check_mean_abs_difference", differences)
    ctx.summary("gradient check (mean |backprop - numerical|): "
                + ", ".join(f"{k}: {v:.2e}" for k, v in differences.items()))
    train_size = 2000 if ctx.quick else None
    data = ctx.data(train_size=train_size, test_size=1000 if ctx.quick else None)
    results = ctx.train("TwoLayerNet", Net("TwoLayerNet", (784, 50, 10)), data, "SGD", {"lr": 0.1},
                        epochs=ctx.epochs_or(17, 3), batch_size=100)
    ctx.record("training", {backend: r.summary() for backend, r in results.items()})
    save_training_figure(ctx, results, "train_neuralnet.png", "TwoLayerNet, SGD lr 0.1, batch 100")
    for backend, result in results.items():
        ctx.summary(f"[{backend}] train acc {result.final_train_acc:.4f}, test acc {result.final_test_acc:.4f} "
                    f"{result.took()}")
