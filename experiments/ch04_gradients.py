"""Chapter 4: numerical derivatives and gradient descent.

NumPy computes derivatives by central differences (numpy_impl.gradient); torch
by autograd. With --backend both the two are overlaid and their gap recorded.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from numpy_impl.functions import cross_entropy_error, softmax
from numpy_impl.gradient import gradient_descent, numerical_diff, numerical_gradient


def function_1(x):
    return 0.01 * x ** 2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def torch_derivative(f, x):
    """df/dx at the point(s) x by autograd."""
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    return x.grad.numpy()


def gradient_1d(ctx):
    """The derivative of 0.01x^2 + 0.1x at 5 and 10 (0.2 and 0.3), and its tangent lines."""
    x = np.arange(0.0, 20.0, 0.1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, function_1(x), color="k", label="f(x) = 0.01x² + 0.1x")
    slopes = {}
    for point in (5.0, 10.0):
        for backend in ctx.backends:
            slope = numerical_diff(function_1, point) if backend == "numpy" else \
                float(torch_derivative(function_1, point))
            slopes[f"{backend} at {point:g}"] = slope
            line = slope * (x - point) + function_1(point)
            ax.plot(x, line, "-" if backend == "numpy" else "--", label=f"tangent at {point:g} ({backend})")
    ax.set(xlabel="x", ylabel="f(x)", title="numerical derivative: tangent lines")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "gradient_1d.png")
    ctx.record("slopes", slopes)
    ctx.summary("slopes: " + ", ".join(f"{k}: {v:.10f}" for k, v in slopes.items()) + " (exact: 0.2 and 0.3)")


def gradient_2d(ctx):
    """The negative gradient field of x0^2 + x1^2: arrows pointing toward the minimum, longer further from it."""
    x0, x1 = np.meshgrid(np.arange(-2, 2.5, 0.25), np.arange(-2, 2.5, 0.25))
    points = np.array([x0.flatten(), x1.flatten()])
    fields = {}
    for backend in ctx.backends:
        if backend == "numpy":
            fields[backend] = np.array([numerical_gradient(function_2, p.copy()) for p in points.T]).T
        else:
            fields[backend] = torch_derivative(lambda x: function_2(x), points)
    fig, ax = plt.subplots(figsize=(5, 5))
    for backend, grad in fields.items():
        ax.quiver(points[0], points[1], -grad[0], -grad[1], angles="xy",
                  color="C0" if backend == "numpy" else "C1", alpha=0.7, label=backend)
    ax.set(xlabel="x0", ylabel="x1", title="-∇f for f = x0² + x1²", xlim=(-2, 2), ylim=(-2, 2))
    ax.legend()
    ctx.save_figure(fig, "gradient_2d.png")
    at = {backend: field[:, np.argmin(np.abs(points[0] - 1.0) + np.abs(points[1] - 0.5))].tolist()
          for backend, field in fields.items()}
    ctx.record("gradient_at_1_0.5", at)
    if ctx.both:
        ctx.record("max_difference", float(np.max(np.abs(fields["numpy"] - fields["torch"]))))
    ctx.summary(f"gradient at (1, 0.5): {at} (exact: [2, 1])")


def torch_gradient_descent(f, init_x, lr, step_num):
    x = torch.tensor(init_x, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=lr)
    history = []
    for _ in range(step_num):
        history.append(x.detach().numpy().copy())
        optimizer.zero_grad()
        f(x).backward()
        optimizer.step()
    return x.detach().numpy(), np.array(history)


def gradient_method(ctx):
    """Gradient descent on x0^2 + x1^2 from (-3, 4): lr 0.1 converges, 10 diverges, 1e-10 barely moves."""
    init = np.array([-3.0, 4.0])
    results = {}
    learning_rates = (0.1, 10.0, 1e-10)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    for ax, lr in zip(axes, learning_rates):
        for backend in ctx.backends:
            if backend == "numpy":
                final, history = gradient_descent(function_2, init, lr=lr, step_num=100, return_history=True)
            else:
                final, history = torch_gradient_descent(function_2, init, lr, 100)
            results[f"{backend} lr={lr:g}"] = {"final": final.tolist(), "distance_to_minimum":
                                               float(np.linalg.norm(final))}
            marker, shape = ("o", "circles") if backend == "numpy" else ("x", "crosses")
            label = f"{backend} ({shape}): ends {np.linalg.norm(final):.3g} from the minimum"
            if lr == 0.1:  # the path itself, in the plane
                ax.plot(history[:, 0], history[:, 1], marker, markersize=4, label=label)
            else:  # the path runs off (lr 10) or stays put (1e-10): its distance to the minimum per step says it
                ax.plot(np.linalg.norm(history, axis=1), marker, markersize=4, label=label)
        # NumPy's lr 10 run stalls near 1e13: there x + h == x in float64 (h = 1e-4), so its numerical gradient
        # is 0, as the book's is; torch's autograd gradient keeps it diverging
        title = f"learning rate {lr:g}"
        if lr == 10.0:
            ax.text(0.45, 0.2, "NumPy's run stops near 1e13: there\nx + h == x in float64 (h = 1e-4), so its\n"
                    "numerical gradient is 0, as the book's is;\nautograd's is not: torch's run diverges on",
                    transform=ax.transAxes, fontsize=7, va="bottom", bbox={"facecolor": "white", "alpha": 0.8})
        if lr == 0.1:
            ax.axhline(0, color="b", linestyle="--", linewidth=0.5)
            ax.axvline(0, color="b", linestyle="--", linewidth=0.5)
            ax.set(xlim=(-3.5, 3.5), ylim=(-4.5, 4.5), xlabel="x0", ylabel="x1", title=title)
        else:
            ax.set(xlabel="step", ylabel="distance to the minimum", title=title,
                   yscale="log" if lr == 10.0 else "linear")
            if lr != 10.0:
                ax.ticklabel_format(axis="y", useOffset=False)
        ax.legend(fontsize=8)
    fig.suptitle("gradient descent on x0\u00b2 + x1\u00b2 from (-3, 4), 100 steps")
    fig.tight_layout()
    ctx.save_figure(fig, "gradient_method.png")
    ctx.record("runs", results)
    for key, value in results.items():
        ctx.summary(f"{key}: distance to the minimum after 100 steps {value['distance_to_minimum']:.3e}")


SIMPLE_NET_W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])


def gradient_simplenet(ctx):
    """The gradient of a 2x3 linear softmax net's loss with respect to its weights (the book's simpleNet)."""
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    W = SIMPLE_NET_W.copy()
    grads = {}
    for backend in ctx.backends:
        if backend == "numpy":
            grads[backend] = numerical_gradient(lambda _: cross_entropy_error(softmax(x @ W), t), W)
        else:
            weights = torch.tensor(SIMPLE_NET_W, requires_grad=True)
            loss = torch.nn.functional.cross_entropy((torch.tensor(x) @ weights)[None], torch.tensor([2]))
            loss.backward()
            grads[backend] = weights.grad.numpy()
    fig, axes = plt.subplots(1, len(grads), figsize=(4.5 * len(grads), 3), squeeze=False, layout="constrained")
    for ax, (backend, grad) in zip(axes[0], grads.items()):
        image = ax.imshow(grad, cmap="coolwarm", vmin=-0.6, vmax=0.6)
        for (i, j), value in np.ndenumerate(grad):
            ax.text(j, i, f"{value:.4f}", ha="center", va="center", fontsize=9)
        ax.set_xticks(range(grad.shape[1]), [f"output {j}" for j in range(grad.shape[1])], fontsize=8)
        ax.set_yticks(range(grad.shape[0]), [f"input {i}" for i in range(grad.shape[0])], fontsize=8)
        ax.set_title(f"dL/dW ({'numerical' if backend == 'numpy' else 'autograd'})", fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist())
    ctx.save_figure(fig, "gradient_simplenet.png")
    ctx.record("dW", {backend: grad.tolist() for backend, grad in grads.items()})
    if ctx.both:
        gap = float(np.max(np.abs(grads["numpy"] - grads["torch"])))
        ctx.record("max_difference", gap)
        ctx.summary(f"numerical and autograd dW differ by at most {gap:.2e}")
    ctx.summary(f"dW ({ctx.backends[0]}):\n{np.array2string(grads[ctx.backends[0]], precision=6)}")
