"""What the NumPy twin and the torch twin must share, and which is not arithmetic.

Neither twin imports the other for anything numerical; both import from here:
the checks of their arguments and inputs (so that both refuse bad input with the
same message), the book's network configurations, the dataset files on disk, the
order of the mini-batches, the bookkeeping of a training run, and writing files.
A bug in a shape or a gradient computed here could hide from the parity harness,
so nothing here computes one.
"""
