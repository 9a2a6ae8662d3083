"""rmt: random-matrix-theory verification of the block structure of neural-network Hessians.

The suite derives each claim symbolically (``proofs/``), computes the same objects in closed
form on NumPy or CuPy (:mod:`rmt.hessian`), simulates them by Monte Carlo, and compares their
spectra with Marchenko–Pastur-type laws (:mod:`rmt.laws`).
"""

__version__ = "0.1.0"
