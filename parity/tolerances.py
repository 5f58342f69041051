"""Every tolerance of the parity harness, by dtype and kind of check, in one place.

Errors are measured relative to the scale of the reference array:
max|numpy - torch| / max|torch| (see records.compare), so elements near zero
do not inflate them.

- forward, grad, state (one pass, or the state after it): the two sides do the
  same arithmetic in a different order (BLAS blocking, im2col against direct
  convolution, fused kernels). Rounding then differs by a few units in the last
  place per operation, growing with the length of the sums (up to a few
  thousand terms here): measured up to ~1e-15 in float64 and ~1e-6 in float32.
  We allow 1e-12 and 1e-5 (docs/design.md: "about 1e-12" and "about 1e-5"; torch's
  own assert_close uses rtol 1.3e-6 plus atol 1e-5 for float32).
- step: one optimizer step on random parameters and gradients; as above.
- trajectory: many steps feed each step's rounding back through the weights,
  and adaptive optimizers divide by small square roots, amplifying it. 1e-9 in
  float64 (docs/design.md); in float32 the same amplification applied to ~1e-7
  rounding gives up to ~1e-4 over 50 steps of training, so 1e-3.
- bf16 (torch_impl.acceleration): the torch side runs a float32 network under
  bf16 autocast, the NumPy side stays in float32. bfloat16 keeps 8 significant
  bits, a rounding of up to 2**-9 ~ 2e-3 of every matmul operand. Measured
  here: softmax, loss and batch-norm statistics up to 7.5e-3, so 2e-2;
  gradients up to 0.2 (a first-step weight gradient is a sum over the batch
  whose terms largely cancel, which magnifies the rounding of each), so 0.3;
  the loss curve of 56 training steps up to 6.3e-2 (SimpleConvNet with Adam,
  SGD and Momentum, two seeds), so 0.1. The weights themselves drift apart in
  bf16 training (up to ~0.3 of their scale), so bf16 trajectories compare the
  loss curve only. These bounds catch a wrong formula, not a small bias.

The test suite compares with the same function (parity.records.assert_close) against references
that are not the other backend; their tolerances (float64) are here too:
- golden: the book's own code's outputs (golden/), one pass; the same arithmetic up to BLAS
  blocking. Measured 0.0 with the default OpenBLAS kernel, a few 1e-16 with others; 1e-10.
  golden trajectory: dozens of training steps feed that rounding back; 1e-8.
- central difference: gradient.numerical_gradient on a quadratic, where central differences are
  exact and what is left is the rounding of f over 2h (h = 1e-4): ~1e-12 relative; 1e-9.
- numerical gradient: a layer's backward against central differences of its forward; the
  truncation error (h**2 / 6 times a third derivative) of a smooth layer, and kinks (ReLU, max)
  within h of an input, bring it to ~1e-7; 1e-6. Through a whole network, 1e-5. Of a smooth
  function without kinks (softmax with loss): 1e-8.
- hand derivation: a value written out by hand in float64 (the book's worked examples, an
  optimizer's two steps unrolled) against the code's; a few operations in another order, each
  rounding by at most 1.1e-16 relative: measured up to ~1e-15; 1e-14.
- sample standard deviation: the standard deviation of n >= 40,000 weights drawn at initialisation
  against the scale the book asks for; the sample's own relative standard error is 1/sqrt(2n) <=
  0.0035, so 0.02 (about six standard errors) fails only a wrong scale, practically never chance.
- book loss eps: the book's loss has 1e-7 inside its log, torch's has none (docs/design.md): they
  differ by (1/N) * sum(log(1 + 1e-7 / y_label)), up to ~1e-6 relative for y_label near 0.1; 1e-5.
"""

TOLERANCES = {
    "float64": {"forward": 1e-12, "grad": 1e-12, "state": 1e-12, "step": 1e-12, "trajectory": 1e-9,
                "golden": 1e-10, "golden trajectory": 1e-8, "central difference": 1e-9,
                "numerical gradient": 1e-6, "network numerical gradient": 1e-5,
                "numerical gradient of a smooth function": 1e-8, "book loss eps": 1e-5,
                "hand derivation": 1e-14, "sample standard deviation": 0.02},
    "float32": {"forward": 1e-5, "grad": 1e-5, "state": 1e-5, "step": 1e-5, "trajectory": 1e-3,
                "bf16 forward": 2e-2, "bf16 grad": 0.3, "bf16 state": 2e-2, "bf16 trajectory": 0.1},
}

DTYPES = tuple(TOLERANCES)

# what a tolerance allows, by the first word of a check's name, for a learner reading a failure
ALLOWS = {"forward": "rounding alone: the same arithmetic in another order",
          "grad": "rounding alone: the same arithmetic in another order",
          "state": "rounding alone: the same arithmetic in another order",
          "step": "rounding alone: the same arithmetic in another order",
          "trajectory": "rounding fed back through the training steps"}


def allowance(check: str) -> str:
    """What the tolerance of `check` ('grad:W', 'forward', ...) allows for, '' where none is written."""
    return ALLOWS.get(check.split(":")[0].split("[")[0], "")


def tolerance(dtype: str, kind: str) -> float:
    """The tolerance for a check of `kind` ('forward', 'grad', 'state', 'step', 'trajectory') in `dtype`."""
    try:
        return TOLERANCES[dtype][kind]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {dtype!r} and check kind {kind!r}") from None
