"""The suite's own claims, registered with :mod:`rmt.claims` on import.

One module per family: ``foundation`` (exact Hessian identities), ``laws`` (spectral laws),
``block_ratio`` (block-diagonal structure against C), ``lindeberg`` (the interpolation step),
``training`` (the block structure along training: the dynamic force), ``torch_blocks`` (PyTorch
models by HVPs; registers nothing without torch, see its ``SKIPPED``).
"""

import importlib

FAMILIES = ("foundation", "laws", "block_ratio", "lindeberg", "training", "torch_blocks")

for _name in FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # a family not written yet registers nothing
        if _exc.name != f"{__name__}.{_name}":
            raise
