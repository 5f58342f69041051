"""Where float32 on CUDA leaves the exact answer: each network's scores and gradients against float64.

For SimpleConvNet and DeepConvNet (the book's sizes, DeepConvNet without dropout; a batch of 32
random images and labels), the float32 forward and backward run on CUDA under several settings of
TF32, deterministic algorithms and cuDNN; each row gives the largest error of the scores and of any
parameter's gradient, relative to the largest element of the float64 result (computed on the CPU), and the
parameter where it is worst.
torch_impl.devices.exact_mode is the setting the parity harness runs CUDA checks in.

    python tools/cuda_exactness.py          (needs a CUDA device; exits 2 without one)
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch_impl.networks as torch_nets  # noqa: E402
from torch_impl.devices import cuda_settings, exact_mode  # noqa: E402

BATCH = 32
NETWORKS = {"SimpleConvNet": {}, "DeepConvNet": {"dropout_ratio": 0.0}}  # no dropout: the CPU and CUDA masks differ
SETTINGS = {
    "TF32 on, cuDNN": lambda: cuda_settings(tf32=True, deterministic=False, cudnn=True),
    "TF32 off, cuDNN": lambda: cuda_settings(tf32=False, deterministic=False, cudnn=True),
    "TF32 off, deterministic, cuDNN": lambda: cuda_settings(tf32=False, deterministic=True, cudnn=True),
    "exact_mode(): TF32 off, deterministic, no cuDNN": exact_mode,
}


def scores_and_gradients(net, x, t):
    net.zero_grad(set_to_none=True)
    scores = net(x)
    F.cross_entropy(scores, t).backward()
    return scores.detach().double().cpu(), {name: p.grad.double().cpu() for name, p in net.named_parameters()}


def relative_error(value, reference):
    return float((value - reference).abs().max() / reference.abs().max())


def main(argv=None):
    argparse.ArgumentParser(prog="python tools/cuda_exactness.py", description=__doc__.split("\n\n")[0] + " "
                            "Prints a Markdown table; needs a CUDA device (exits 2 without one).").parse_args(argv)
    if not torch.cuda.is_available():
        print("cuda_exactness: no CUDA device on this machine", file=sys.stderr)
        return 2
    generator = torch.Generator().manual_seed(0)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    print("| network | setting | scores | worst gradient | its parameter |\n|---|---|---|---|---|")
    for name, kwargs in NETWORKS.items():
        reference_net = getattr(torch_nets, name)(dtype=torch.float64, **kwargs)
        reference_net.train()
        x = torch.rand(BATCH, 1, 28, 28, generator=generator, dtype=torch.float64)
        t = torch.randint(0, 10, (BATCH,), generator=generator)
        reference_scores, reference_grads = scores_and_gradients(reference_net, x, t)
        net = getattr(torch_nets, name)(dtype=torch.float32, device="cuda", **kwargs)
        net.load_state_dict(reference_net.state_dict())
        net.train()
        for setting, context in SETTINGS.items():
            with context():
                torch.manual_seed(0)
                scores, grads = scores_and_gradients(net, x.float().cuda(), t.cuda())
            errors = {key: relative_error(grads[key], reference_grads[key]) for key in grads}
            worst = max(errors, key=errors.get)
            print(f"| {name} | {setting} | {relative_error(scores, reference_scores):.2e} | "
                  f"{errors[worst]:.2e} | {worst} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
