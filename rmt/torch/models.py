"""Torch modules for the block-norm estimators: rmt's two classifiers, a small GPT-style
transformer and an MLP, with their losses and synthetic batches.

* :class:`LinearModule` (``z = V x``) and :class:`HiddenModule` (``z = V φ(W x)``) hold the same
  numbers as :class:`rmt.models.LinearClassifier` / :class:`rmt.models.OneHiddenLayer`
  (:func:`from_rmt`), so their Hessians equal rmt's closed forms; the paper rule of
  :func:`rmt.torch.blocks.partition` gives rmt's blocks (rows of ``V``, then rows of ``W``).
* :func:`ce_loss` (mean cross-entropy) and :func:`mse_loss` (``(1/N) Σ ½‖z − e_y‖²``) are the
  losses of :func:`rmt.models.loss_value`.
* :class:`TinyGPT`: token and position embeddings, ``n_layers`` pre-LayerNorm blocks (causal
  self-attention with separate ``q, k, v, o`` projections, GELU MLP of width ``4·d_model``),
  a final LayerNorm and an lm_head without bias, tied to the token embedding or not. GPT-2's
  initialisation: weights ``N(0, 0.02²)``, residual projections ``N(0, (0.02/√(2 n_layers))²)``,
  biases 0, LayerNorm gain 1. :meth:`TinyGPT.heads` gives the ``heads=`` argument of
  :func:`~rmt.torch.blocks.partition` (Q and K one block per head).
* :class:`MLP`: ``z = V relu(W_L … relu(W_1 x))``, no biases, LeCun init (``N(0, σ²/fan_in)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rmt import backend as bk
from rmt.validation import check_int, check_real

__all__ = ["LinearModule", "HiddenModule", "from_rmt", "ce_loss", "mse_loss", "TinyGPT", "MLP",
           "token_batch", "gaussian_batch"]


def ce_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over samples (``z`` may be ``(N, C)`` or ``(B, T, C)``)."""
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1))


def mse_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(1/N) Σ_n ½‖z_n − e_{y_n}‖²`` against one-hot targets."""
    z2 = z.reshape(-1, z.shape[-1])
    T = F.one_hot(y.reshape(-1), z2.shape[-1]).to(z2.dtype)
    return 0.5 * ((z2 - T) ** 2).sum(-1).mean()


_ACT = {"relu": F.relu, "tanh": torch.tanh, "identity": lambda u: u,
        "gelu": lambda u: F.gelu(u, approximate="none")}


class LinearModule(nn.Module):
    """``z = X Vᵀ`` with ``V`` of shape ``(C, d)``."""

    def __init__(self, V: Any) -> None:
        super().__init__()
        self.V = nn.Parameter(torch.as_tensor(np.asarray(V)).clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X @ self.V.T


class HiddenModule(nn.Module):
    """``z = φ(X Wᵀ) Vᵀ`` (``V`` registered first, so the flat order is rmt's: rows of V, then
    rows of W)."""

    def __init__(self, W: Any, V: Any, activation: str = "relu") -> None:
        super().__init__()
        if activation not in _ACT:
            raise ValueError(f"activation must be one of {tuple(_ACT)}, got {activation!r}")
        self.V = nn.Parameter(torch.as_tensor(np.asarray(V)).clone())
        self.W = nn.Parameter(torch.as_tensor(np.asarray(W)).clone())
        self.activation = activation

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return _ACT[self.activation](X @ self.W.T) @ self.V.T


def from_rmt(model: Any) -> nn.Module:
    """The torch module of an :class:`rmt.models.LinearClassifier` or
    :class:`rmt.models.OneHiddenLayer` (same numbers, on the CPU)."""
    from rmt.models import LinearClassifier, OneHiddenLayer  # noqa: PLC0415

    if isinstance(model, LinearClassifier):
        return LinearModule(bk.to_numpy(model.V))
    if isinstance(model, OneHiddenLayer):
        return HiddenModule(bk.to_numpy(model.W), bk.to_numpy(model.V), model.activation)
    raise TypeError(f"model must be an rmt LinearClassifier or OneHiddenLayer, got "
                    f"{type(model).__name__}")


class _Attention(nn.Module):
    def __init__(self, d: int, n_heads: int, seq_len: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.register_buffer("mask", torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        h = self.n_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(B, T, h, d // h).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        s = torch.where(self.mask[:T, :T], s, torch.full_like(s, -1e9))
        y = torch.softmax(s, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(B, T, d))


class _Block(nn.Module):
    def __init__(self, d: int, n_heads: int, seq_len: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = _Attention(d, n_heads, seq_len)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyGPT(nn.Module):
    """A GPT-style decoder (see the module docstring).

    Parameters
    ----------
    vocab : int >= 2
        Vocabulary size ``C`` (the lm_head has one row per token).
    d_model : int, divisible by ``n_heads``
    n_layers, n_heads : int >= 1
    seq_len : int >= 1
        Longest sequence (causal mask size).
    tied : bool
        lm_head weight = token embedding (GPT-2) or its own tensor.
    seed : int or SeedSequence, optional
        Initialisation (torch generator seeded from it).
    """

    def __init__(self, vocab: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                 seq_len: int = 32, tied: bool = False, seed: Any = None) -> None:
        super().__init__()
        C = check_int("vocab", vocab, 2)
        d = check_int("d_model", d_model, 1)
        L = check_int("n_layers", n_layers, 1)
        h = check_int("n_heads", n_heads, 1)
        T = check_int("seq_len", seq_len, 1)
        if d % h:
            raise ValueError(f"d_model must be a multiple of n_heads = {h}, got {d}")
        self.config = {"vocab": C, "d_model": d, "n_layers": L, "n_heads": h, "seq_len": T,
                       "tied": bool(tied)}
        self.tok = nn.Embedding(C, d)
        self.pos = nn.Embedding(T, d)
        self.blocks = nn.ModuleList(_Block(d, h, T) for _ in range(L))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, C, bias=False)
        g = torch.Generator().manual_seed(_torch_seed(seed))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * L) if name.endswith(("o.weight", "fc2.weight")) \
                        else 0.02
                    p.copy_(torch.randn(p.shape, generator=g) * std)
        if tied:
            self.lm_head.weight = self.tok.weight

    def heads(self) -> dict[str, int]:
        """``{module name: n_heads}`` for the Q and K projections."""
        h = self.config["n_heads"]
        return {f"blocks.{i}.attn.{w}": h for i in range(len(self.blocks)) for w in "qk"}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[-1]
        x = self.tok(tokens) + self.pos.weight[:T]
        for blk in self.blocks:
            x = blk(x)
        return self.lm_head(self.ln_f(x))

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The lm_head's inputs (final LayerNorm output), shape ``(B·T, d_model)``."""
        T = tokens.shape[-1]
        x = self.tok(tokens) + self.pos.weight[:T]
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x).reshape(-1, x.shape[-1])


class MLP(nn.Module):
    """``z = V relu(W_L … relu(W_1 x))`` without biases; layer ``k`` is ``layers.{k}``, the
    output layer ``out``. Weights ``N(0, σ²/fan_in)``."""

    def __init__(self, dim: int, widths: tuple[int, ...], n_classes: int, sigma: float = 1.0,
                 seed: Any = None) -> None:
        super().__init__()
        d = check_int("dim", dim, 1)
        C = check_int("n_classes", n_classes, 2)
        s = check_real("sigma", sigma, 0.0)
        ws = [check_int("widths", w, 1) for w in widths]
        if not ws:
            raise ValueError("widths must hold at least one hidden width")
        sizes = [d, *ws]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], C, bias=False)
        g = torch.Generator().manual_seed(_torch_seed(seed))
        with torch.no_grad():
            for lin in [*self.layers, self.out]:
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g)
                                 * (s / math.sqrt(lin.weight.shape[1])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin in self.layers:
            x = F.relu(lin(x))
        return self.out(x)


def _torch_seed(seed: Any) -> int:
    return int(bk.as_seed_sequence(seed).generate_state(1, np.uint64)[0] >> np.uint64(1))


def token_batch(vocab: int, batch: int, seq_len: int, seed: Any = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic next-token data: ``batch`` sequences of ``seq_len + 1`` tokens drawn uniformly
    from ``[0, vocab)``; inputs are the first ``seq_len``, targets the next ones."""
    g = torch.Generator().manual_seed(_torch_seed(seed))
    toks = torch.randint(0, check_int("vocab", vocab, 2), (check_int("batch", batch, 1),
                                                            check_int("seq_len", seq_len, 1) + 1),
                         generator=g)
    return toks[:, :-1], toks[:, 1:]


def gaussian_batch(n_samples: int, dim: int, n_classes: int, seed: Any = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``X`` with iid ``N(0, 1)`` entries, shape ``(N, d)`` (float64), and uniform labels."""
    sx, sy = bk.spawn_seeds(seed, 2)
    X = torch.from_numpy(np.random.default_rng(sx).standard_normal(
        (check_int("n_samples", n_samples, 1), check_int("dim", dim, 1))))
    y = torch.from_numpy(np.random.default_rng(sy).integers(0, check_int("n_classes", n_classes,
                                                                         2), n_samples))
    return X, y
