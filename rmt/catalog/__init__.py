"""The suite's own claims, registered with :mod:`rmt.claims` on import.

One module per family: ``foundation`` (exact Hessian identities), ``laws`` (spectral laws),
``block_ratio`` (block-diagonal structure against C), ``hidden`` (the one-hidden-layer net's
W-blocks), ``lindeberg`` (the interpolation step), ``training`` (the block structure along
training: the dynamic force), ``preconditioners`` (what the structure buys diagonal,
block-scalar and block preconditioners), ``torch_blocks`` (PyTorch models by HVPs; registers
nothing without torch, see its ``SKIPPED``).
"""

import importlib
import sys

__all__ = ["FAMILIES", "skipped"]

FAMILIES = ("foundation", "laws", "block_ratio", "hidden", "lindeberg", "training",
            "preconditioners", "torch_blocks")

for _name in FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # a family not written yet registers nothing
        if _exc.name != f"{__name__}.{_name}":
            raise


def skipped() -> dict[str, str]:
    """Claim id → reason for every claim a family could not register here (e.g. the
    ``torch_blocks`` claims without PyTorch): the runner lists them as skipped, not absent."""
    out: dict[str, str] = {}
    for name in FAMILIES:
        mod = sys.modules.get(f"{__name__}.{name}")     # None: a family not written yet
        out.update(getattr(mod, "SKIPPED", {}))
    return out
