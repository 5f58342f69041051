"""Every tolerance of the parity harness, by dtype and kind of check, in one place.

Errors are measured relative to the scale of the reference array:
max|numpy - torch| / max|torch| (see records.compare), so elements near zero
do not inflate them.

- forward, grad, state (one pass, or the state after it): the two sides do the
  same arithmetic in a different order (BLAS blocking, im2col against direct
  convolution, fused kernels). Rounding then differs by a few units in the last
  place per operation, growing with the length of the sums (up to a few
  thousand terms here): measured up to ~1e-15 in float64 and ~1e-6 in float32.
  We allow 1e-12 and 1e-5 (DESIGN.md: "about 1e-12" and "about 1e-5"; torch's
  own assert_close uses rtol 1.3e-6 plus atol 1e-5 for float32).
- step: one optimizer step on random parameters and gradients; as above.
- trajectory: many steps feed each step's rounding back through the weights,
  and adaptive optimizers divide by small square roots, amplifying it. 1e-9 in
  float64 (DESIGN.md); in float32 the same amplification applied to ~1e-7
  rounding gives up to ~1e-4 over 50 steps of training, so 1e-3.
"""

TOLERANCES = {
    "float64": {"forward": 1e-12, "grad": 1e-12, "state": 1e-12, "step": 1e-12, "trajectory": 1e-9},
    "float32": {"forward": 1e-5, "grad": 1e-5, "state": 1e-5, "step": 1e-5, "trajectory": 1e-3},
}

DTYPES = tuple(TOLERANCES)


def tolerance(dtype, kind):
    """The tolerance for a check of `kind` ('forward', 'grad', 'state', 'step', 'trajectory') in `dtype`."""
    try:
        return TOLERANCES[dtype][kind]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {dtype!r} and check kind {kind!r}") from None
