"""A model, a loss and a batch as a Hessian operator over the flat parameter vector.

:class:`HessianProblem` holds a copy of the parameters (float64 by default: the model itself is
never modified), and gives Hessian-vector products of the batch loss
``L(θ) = loss_fn(model(*inputs; θ), targets)`` by forward-over-reverse differentiation
(``torch.func.jvp`` of ``torch.func.grad``), ``vmap``-ed over a batch of probe vectors, so ``B``
probes cost one batched pass instead of ``B`` separate ones. :meth:`HessianProblem.dense` forms
the full Hessian (``n_params`` HVPs in chunks) for small models: the reference the estimators are
tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from .blocks import named_parameters

__all__ = ["HessianProblem", "MAX_DENSE_PARAMS"]

#: Largest parameter count :meth:`HessianProblem.dense` accepts (a float64 Hessian of 8192²
#: entries is 0.5 GB).
MAX_DENSE_PARAMS = 8192

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _dtype(dtype: Any) -> torch.dtype:
    if dtype in (torch.float64, torch.float32):
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float64' or 'float32' (or the torch dtype), got {dtype!r}")


def _cast(x: Any, dtype: torch.dtype, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)
    return x


class HessianProblem:
    """Hessian-vector products of a batch loss with respect to a module's parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; it is called as ``model(*inputs)`` through ``torch.func.functional_call``
        with this problem's parameter copy (the module's own parameters are not touched).
        Use it in the mode you want differentiated (``model.eval()`` turns dropout off).
    loss_fn : callable ``(output, targets) -> scalar tensor``
        The batch loss, e.g. ``torch.nn.functional.cross_entropy``.
    inputs : tensor or tuple of tensors
        The batch (floating tensors are cast to ``dtype``).
    targets : tensor or None
    dtype : {"float64", "float32"}
        Precision of the parameters, inputs and products (float64 default, for verification).
    device : str or torch.device, optional
        Where to compute (default: the model's device).

    Attributes
    ----------
    names, shapes, sizes : lists
        The parameters in flat-vector order (:func:`rmt.torch.blocks.named_parameters`).
    theta : torch.Tensor, shape (n_params,)
        The flat parameter vector.
    n_hvp : int
        Hessian-vector products computed so far (each probe of a batch counts one).
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[Any, Any], torch.Tensor],
                 inputs: Any, targets: Any = None, *, dtype: Any = "float64",
                 device: Any = None) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (output, targets) -> scalar, got "
                            f"{type(loss_fn).__name__}")
        params = named_parameters(model)
        self.dtype = _dtype(dtype)
        self.device = torch.device(device) if device is not None else params[0][1].device
        self.model = model
        self.loss_fn = loss_fn
        self.names = [n for n, _ in params]
        self.shapes = [tuple(p.shape) for _, p in params]
        self.sizes = [p.numel() for _, p in params]
        with torch.no_grad():
            self.theta = torch.cat([p.detach().reshape(-1) for _, p in params]).to(
                self.device, self.dtype)
        self.buffers = {n: _cast(b.detach(), self.dtype, self.device)
                        for n, b in model.named_buffers()}
        ins = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
        self.inputs = tuple(_cast(x, self.dtype, self.device) for x in ins)
        self.targets = _cast(targets, self.dtype, self.device)
        self.n_hvp = 0
        self._grad = grad(self._loss)
        self._batched = vmap(self._hvp_one)

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(flat, self.sizes)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def _loss(self, flat: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, (self._unflatten(flat), self.buffers), self.inputs)
        return self.loss_fn(out, self.targets)

    def _hvp_one(self, v: torch.Tensor) -> torch.Tensor:
        return jvp(self._grad, (self.theta,), (v,))[1]

    def loss(self) -> float:
        """The batch loss at ``theta``."""
        with torch.no_grad():
            return float(self._loss(self.theta))

    def gradient(self) -> torch.Tensor:
        """The gradient of the batch loss, shape ``(n_params,)``."""
        return self._grad(self.theta)

    def hvp(self, V: torch.Tensor) -> torch.Tensor:
        """``H v`` for each row ``v`` of ``V`` (shape ``(B, n_params)`` or ``(n_params,)``)."""
        if not isinstance(V, torch.Tensor):
            raise TypeError(f"V must be a torch.Tensor, got {type(V).__name__}")
        one = V.dim() == 1
        V2 = V.reshape(1, -1) if one else V
        if V2.dim() != 2 or V2.shape[1] != self.n_params:
            raise ValueError(f"V must have shape (B, {self.n_params}) or ({self.n_params},), "
                             f"got {tuple(V.shape)}")
        V2 = V2.to(self.device, self.dtype)
        self.n_hvp += V2.shape[0]
        out = self._batched(V2)
        return out[0] if one else out

    def dense(self, chunk: int = 256, max_params: int = MAX_DENSE_PARAMS) -> torch.Tensor:
        """The full Hessian, ``(n_params, n_params)``, by HVPs with unit vectors in chunks.

        Refused (ValueError) above ``max_params`` parameters; symmetrised ``(H + Hᵀ)/2``
        (forward-over-reverse products are symmetric only to rounding).
        """
        P = self.n_params
        if P > max_params:
            raise ValueError(f"the dense Hessian needs n_params <= max_params = {max_params}, "
                             f"here {P}; use the estimators of rmt.torch.estimators")
        if chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk}")
        H = torch.empty(P, P, dtype=self.dtype, device=self.device)
        eye = torch.eye(P, dtype=self.dtype, device=self.device)
        for a in range(0, P, chunk):
            H[a:a + chunk] = self.hvp(eye[a:a + chunk])
        return (H + H.T) / 2

    def describe(self) -> dict[str, Any]:
        """Parameter count, dtype, device and the batch shapes (for results files)."""
        return {"n_params": self.n_params, "dtype": str(self.dtype).removeprefix("torch."),
                "device": str(self.device), "torch": torch.__version__,
                "inputs": [list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                           for x in self.inputs],
                "parameters": {n: list(s) for n, s in zip(self.names, self.shapes)}}

