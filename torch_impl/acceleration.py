"""Optional speed-ups of the torch training step: torch.compile, bf16 autocast, CUDA graphs.

All are off by default. The parity suite trains with each one on and checks the
trajectory against the NumPy side within the tolerance parity.tolerances states
for it, so a flag that changed what is learned would show there.
"""
import logging
from contextlib import nullcontext
from dataclasses import dataclass, fields

import torch

FLAGS = ("compile", "bf16", "cuda_graphs")


@dataclass(frozen=True)
class Acceleration:
    """Which speed-ups a training step uses.

    compile: run the network through `torch.compile` (with cuda_graphs as well:
      mode='reduce-overhead', torch.compile's own CUDA-graph capture).
    bf16: run the network under `torch.autocast` in bfloat16; parameters,
      optimizer state and the loss stay in the network's float32.
    cuda_graphs: capture the training-mode forward and backward as CUDA graphs
      (`torch.cuda.make_graphed_callables`) and replay them each step. CUDA only;
      every batch must have the sample batch's shape, which the Trainer's do.
    """
    compile: bool = False
    bf16: bool = False
    cuda_graphs: bool = False

    @classmethod
    def parse(cls, text):
        """'compile,bf16' -> Acceleration(compile=True, bf16=True); '' or 'none' -> no speed-up."""
        if isinstance(text, cls):
            return text
        names = [name.strip().replace("-", "_") for name in str(text or "").split(",") if name.strip()]
        if names == ["none"]:
            names = []
        unknown = sorted(set(names) - set(FLAGS))
        if unknown:
            raise ValueError(f"unknown acceleration {unknown}; expected a comma-separated subset of {list(FLAGS)}")
        return cls(**{name: True for name in names})

    def __str__(self):
        return "+".join(field.name for field in fields(self) if getattr(self, field.name)) or "none"

    def check(self, device, dtype):
        """Raise ValueError if these speed-ups cannot run a `dtype` network on `device`."""
        if self.cuda_graphs and torch.device(device).type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device; got device {str(device)!r}")
        if self.bf16 and dtype != torch.float32:
            raise ValueError(f"bf16 autocast runs a float32 network in bfloat16; got a {dtype} network")

    def autocast(self, device):
        """The context the network's forward runs in: bf16 autocast, or nothing."""
        if not self.bf16:
            return nullcontext()
        # make_graphed_callables captures with autocast only when its weight-cast cache is off
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=not self.cuda_graphs)

    def prepare(self, network, sample_batch):
        """The callable that a training step runs `network` through.

        cuda_graphs graphs `network` in place; the warm-up and capture runs would
        advance batch-norm running statistics, so those are put back afterwards.
        """
        self.check(sample_batch.device, next(network.parameters()).dtype)
        if self.compile:
            if not torch.cuda.is_available():  # inductor's C++ helper warns that it found no CUDA runtime: nothing
                logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # to act on, on a CPU
            return torch.compile(network, mode="reduce-overhead" if self.cuda_graphs else None)
        if self.cuda_graphs:
            buffers = {name: buffer.clone() for name, buffer in network.named_buffers()}
            network.train()
            with self.autocast(sample_batch.device):
                torch.cuda.make_graphed_callables(network, (sample_batch,))
            with torch.no_grad():
                for name, buffer in network.named_buffers():
                    buffer.copy_(buffers[name])
        return network
