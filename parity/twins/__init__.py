"""The twins, one module per kind: layers (and functions), optimizers, networks (and trajectories)."""
