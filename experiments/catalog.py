"""Every experiment by the book's script name, and what the command line needs to know of it, read from the
experiment modules' source without importing them (so that --help and `list` load neither torch nor matplotlib).

The first line of an experiment's docstring says what it shows; the options it has no use for are refused.
"""
import ast
import importlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EXPERIMENTS = OrderedDict([
    ("gradient_1d", "ch04_gradients"), ("gradient_2d", "ch04_gradients"), ("gradient_method", "ch04_gradients"),
    ("gradient_simplenet", "ch04_gradients"),
    ("train_neuralnet", "ch05_backprop"),
    ("optimizer_compare_naive", "ch06_optimizers"), ("optimizer_compare_mnist", "ch06_optimizers"),
    ("weight_init_activation_histogram", "ch06_init"), ("weight_init_compare", "ch06_init"),
    ("vanishing_gradient", "ch06_init"),
    ("batch_norm_test", "ch06_batchnorm"), ("batch_norm_gradient_check", "ch06_batchnorm"),
    ("overfit_weight_decay", "ch06_regularization"), ("overfit_dropout", "ch06_regularization"),
    ("hyperparameter_optimization", "ch06_hyperparameter"),
    ("train_convnet", "ch07_convnet"),
    ("train_deepnet", "ch08_deepnet"),
])

# Chapter 4's experiments evaluate closed-form functions in float64 on the CPU, with no data set, no training
# epochs and no random draws.
CLOSED_FORM = ("gradient_1d", "gradient_2d", "gradient_method", "gradient_simplenet")
CLOSED_FORM_OPTIONS = ("device", "dtype", "dataset", "download", "epochs", "seed", "acceleration", "semantics")

# the options of the hyper-parameter search, which no other experiment reads
SEARCH_OPTIONS = ("trials", "workers", "storage")
CHECKPOINT_OPTIONS = ("resume", "checkpoint_every")


@dataclass(frozen=True)
class Agreement:
    """What `--backend both` promises for an experiment (the book's semantics on both, --quick): in float64 the
    two backends' curves agree to rounding (FLOAT64_AGREEMENT); in float32, to `accuracy` between their final
    train and test accuracies and to `loss` between their loss curves (None: not compared), for the reason in
    `why`. accuracy None: no float32 bound is stated, for that reason."""
    accuracy: float | None
    loss: float | None
    why: str


FLOAT64_AGREEMENT = Agreement(0.0, 1e-9, "the same arithmetic in float64: the losses agree to 1e-11 or closer, the "
                                         "accuracies exactly")
FLOAT32_DRIFT = ("float32 rounding, the two sides' sums in other orders, grows over the hundreds of steps in which "
                 "a 7-layer net memorises 300 images")
AGREEMENT = {  # in float32
    "train_neuralnet": Agreement(0.01, 1e-5, "float32 rounding over the quick run's steps of a 2-layer net"),
    "optimizer_compare_mnist": Agreement(None, None, "RMSprop divides each step by sqrt(h) + 1e-7, where h of a "
                                                     "weight that rarely gets a gradient is near 0: float32 "
                                                     "rounding of h parts the two curves (losses 0.12 apart "
                                                     "after 70 steps): compared in float64 only"),
    "weight_init_compare": Agreement(0.01, 1e-5, "float32 rounding over 3 epochs of a 5-layer net"),
    "train_convnet": Agreement(0.01, 1e-5, "float32 rounding over the quick run's 20 steps of SimpleConvNet"),
    "train_deepnet": Agreement(0.02, 1e-3, "float32 rounding through DeepConvNet's 8 layers, its 6 convolutions "
                                           "summing in other orders on the two sides"),
    "overfit_weight_decay": Agreement(0.02, 0.1, FLOAT32_DRIFT),
    "overfit_dropout": Agreement(0.02, 0.1, FLOAT32_DRIFT),
    "batch_norm_test": Agreement(None, None, "at the smallest weight scale the variances before normalisation are "
                                             "near its eps, and float32 rounding moves the final accuracy of either "
                                             "side by up to 0.07 with the order of its sums (one BLAS thread or "
                                             "two): compared in float64 only"),
}

# `make demo`: a quick run of these, then the parity report
DEMO = ("gradient_method", "optimizer_compare_naive", "optimizer_compare_mnist", "weight_init_compare",
        "batch_norm_test", "overfit_dropout", "train_convnet")


def experiment(name):
    """The experiment function `name` (importing its module)."""
    return getattr(importlib.import_module(f"{__package__}.{EXPERIMENTS[name]}"), name)


@cache
def module_tree(module):
    return ast.parse((Path(__file__).parent / f"{module}.py").read_text())


def module_functions(module):
    """{function name: its ast.FunctionDef} of an experiments module, parsed, not imported."""
    return {node.name: node for node in module_tree(module).body if isinstance(node, ast.FunctionDef)}


def module_imports(module):
    """{name: the experiments module it comes from} for the module's `from .other import name` lines."""
    return {alias.asname or alias.name: node.module for node in module_tree(module).body
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module for alias in node.names}


def docstring(name):
    return ast.get_docstring(module_functions(EXPERIMENTS[name])[name])


def describe(name):
    """The first sentence of the experiment's docstring, whatever lines it spans."""
    paragraph = " ".join(docstring(name).split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[:end + 1]


def context_reads(name):
    """The attributes of `ctx` that experiment `name` reads, in its own body and in the functions of the
    experiments package it calls (and those they call)."""
    seen, pending, reads = set(), [(EXPERIMENTS[name], name)], set()
    while pending:
        module, function = pending.pop()
        seen.add((module, function))
        functions, imports = module_functions(module), module_imports(module)
        for node in ast.walk(functions[function]):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ctx":
                reads.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = node.func.id
                where = module if callee in functions else imports.get(callee)
                if where is not None and callee in module_functions(where) and (where, callee) not in seen:
                    pending.append((where, callee))
    return reads


def epoch_defaults(name):
    """(epochs, epochs with --quick) from the experiment's ctx.epochs_or(...) call, or None if it trains for none."""
    functions = module_functions(EXPERIMENTS[name])
    for node in ast.walk(functions[name]):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "epochs_or"
                and all(isinstance(arg, ast.Constant) for arg in node.args)):
            return tuple(arg.value for arg in node.args)
    return None


def runs_as(name):
    """{setting: value} that experiment `name` runs with whatever the options say (those it does not use)."""
    unused = unused_options(name)
    fixed = {"backend": "numpy", "dtype": "float64", "device": "cpu"}
    return {setting: value for setting, value in fixed.items() if setting in unused}


def unused_options(name):
    """{option: why experiment `name` has no use for it}: the options `run` refuses."""
    if name in CLOSED_FORM:
        why = "it computes closed-form functions in float64 on the CPU, without data, epochs or random draws"
        return {**dict.fromkeys(CLOSED_FORM_OPTIONS + CHECKPOINT_OPTIONS, why),
                **dict.fromkeys(SEARCH_OPTIONS, "it runs no hyper-parameter search")}
    reads, unused = context_reads(name), {}
    if not reads & {"backends", "both", "train", "build", "data"}:
        unused["backend"] = "it runs on NumPy alone"
    if not reads & {"dtype", "train", "build"}:
        unused["dtype"] = "it computes in float64 whatever --dtype says"
    if "backend" in unused or not reads & {"device", "train", "build", "data"}:
        unused["device"] = "it runs on the CPU"
    if "train" not in reads:
        unused["acceleration"] = "its trainings, if any, take no speed-ups"
    if "epochs_or" not in reads:
        unused["epochs"] = "it trains for no epochs"
    if not reads & {"data", "dataset"}:
        unused.update(dict.fromkeys(("dataset", "download"), "it reads no data set"))
    if "trials_or" not in reads:
        unused.update(dict.fromkeys(SEARCH_OPTIONS, "it runs no hyper-parameter search"))
    if not reads & {"train", "build"}:
        unused["semantics"] = "its networks, if any, keep the book's semantics"
    if "train" not in reads:
        unused.update(dict.fromkeys(CHECKPOINT_OPTIONS, "it trains no network through the Trainers: nothing to "
                                    "checkpoint (a search resumes through its --storage)"))
    return unused
