"""Partitions of a PyTorch module's parameters into Hessian blocks.

Parameters are numbered as in the flat vector of :class:`rmt.torch.problem.HessianProblem`: the
module's ``named_parameters()`` (tied tensors once, under their first name) flattened in order,
each in C order. A *block* is a set of those indices; a *layer* is a group of blocks over which
the aggregate sums ``Σ_{i≠j}‖H_ij‖²_F`` and ``Σ_i‖H_ii‖²_F`` are taken.

Rules (:func:`partition`)
-------------------------
``"paper"``
    One block per output neuron (arXiv 2505.02809; Adam-mini's partition): row ``k`` of every
    weight matrix (``nn.Linear``: the weights into output ``k``, with bias entry ``k``; any
    tensor of rank ≥ 2: its first axis, e.g. a convolution's output channel), so the output
    layer (lm_head) and an embedding have one block per class/token. Modules named in
    ``heads`` (and every ``nn.MultiheadAttention``) split Q and K by attention head: the rows
    of one head form one block; V keeps one block per row. A parameter of rank ≤ 1 that is not
    a Linear's bias (LayerNorm gain and bias) is one block. Layer: the module (``q``, ``k``,
    ``v`` separately for a fused ``in_proj``); a standalone tensor is its own layer.
``"tensor"``
    One block per parameter tensor (a Linear's bias apart from its weight); all blocks in one
    layer ``"all"``.

:func:`user_partition` takes index sets (and optional layer names) and validates them: integer,
non-empty, within ``[0, n_params)``, pairwise disjoint. Parameters in no block are simply left
out of every block norm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Block", "Partition", "RULES", "named_parameters", "partition", "user_partition"]

RULES = ("paper", "tensor")


def named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` in flat-vector order (tied parameters once); only those that
    require a gradient."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not out:
        raise ValueError("model must have at least one parameter with requires_grad=True")
    return out


@dataclass(frozen=True)
class Block:
    """One Hessian block: ``name`` (e.g. ``"lm_head[17]"``), ``layer`` (the group it is summed
    over) and ``index`` (sorted int64 indices into the flat parameter vector)."""

    name: str
    layer: str
    index: np.ndarray

    @property
    def size(self) -> int:
        return int(self.index.size)


class Partition:
    """Disjoint blocks of a flat parameter vector, grouped into layers.

    Parameters
    ----------
    blocks : sequence of Block
        Non-empty, pairwise disjoint index sets within ``[0, n_params)``.
    n_params : int
        Length of the flat parameter vector.

    Attributes
    ----------
    blocks : tuple of Block
    n_params : int
    layers : dict of str to ndarray
        Layer name → global ids of its blocks, in block order.
    owner : ndarray, shape (n_params,)
        Global block id of every parameter (−1 where none).
    """

    def __init__(self, blocks: Sequence[Block], n_params: int) -> None:
        if n_params < 1:
            raise ValueError(f"n_params must be an integer >= 1, got {n_params}")
        if not blocks:
            raise ValueError("blocks must hold at least one block")
        owner = np.full(n_params, -1, dtype=np.int64)
        layers: dict[str, list[int]] = {}
        for b_id, b in enumerate(blocks):
            idx = b.index
            if idx.size == 0:
                raise ValueError(f"block {b.name!r} is empty; every block needs >= 1 index")
            if idx.min() < 0 or idx.max() >= n_params:
                raise ValueError(f"block {b.name!r} holds indices outside [0, {n_params - 1}]: "
                                 f"range [{idx.min()}, {idx.max()}]")
            if np.any(owner[idx] >= 0) or np.unique(idx).size != idx.size:
                clash = int(owner[idx][owner[idx] >= 0][0]) if np.any(owner[idx] >= 0) else b_id
                raise ValueError(f"blocks must be disjoint: block {b.name!r} overlaps block "
                                 f"{blocks[clash].name!r}")
            owner[idx] = b_id
            layers.setdefault(b.layer, []).append(b_id)
        self.blocks = tuple(blocks)
        self.n_params = int(n_params)
        self.owner = owner
        self.layers = {k: np.asarray(v, dtype=np.int64) for k, v in layers.items()}
        self._layer_index: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return (f"Partition({len(self.blocks)} blocks in {len(self.layers)} layers over "
                f"{self.n_params} parameters)")

    def layer(self, name: str) -> np.ndarray:
        """Global ids of the blocks of layer ``name`` (ValueError listing the layers if unknown)."""
        if name not in self.layers:
            raise ValueError(f"layer must be one of {sorted(self.layers)}, got {name!r}")
        return self.layers[name]

    def find(self, name: str) -> int:
        """Global id of the block called ``name``."""
        for b_id, b in enumerate(self.blocks):
            if b.name == name:
                return b_id
        raise ValueError(f"no block named {name!r} (names look like {self.blocks[0].name!r})")

    def layer_index(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(param_idx, local_block)``: the flat indices of layer ``name`` and, for each, its
        block's position within the layer (for one ``index_add`` per probe)."""
        if name not in self._layer_index:
            ids = self.layer(name)
            pidx = np.concatenate([self.blocks[i].index for i in ids])
            local = np.concatenate([np.full(self.blocks[i].size, k, dtype=np.int64)
                                    for k, i in enumerate(ids)])
            self._layer_index[name] = (torch.from_numpy(pidx), torch.from_numpy(local))
        return self._layer_index[name]

    def summary(self) -> dict[str, tuple[int, int]]:
        """Layer name → (number of blocks, parameters in them)."""
        return {k: (int(v.size), int(sum(self.blocks[i].size for i in v)))
                for k, v in self.layers.items()}


def _heads_of(model: nn.Module, heads: Mapping[str, int] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, mod in model.named_modules():
        if isinstance(mod, nn.MultiheadAttention):
            out[name] = int(mod.num_heads)
    for key, h in dict(heads or {}).items():
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
            raise ValueError(f"heads[{key!r}] must be an integer >= 1, got {h!r}")
        try:
            model.get_submodule(key)
        except AttributeError:
            raise ValueError(f"heads names module {key!r}, which the model does not have") from None
        out[key] = int(h)
    return out


def _rows(offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices, one row per output neuron: shape (rows, row_size)."""
    n = int(np.prod(shape))
    return (offset + np.arange(n, dtype=np.int64)).reshape(shape[0], -1)


def partition(model: nn.Module, rule: str = "paper", *, heads: Mapping[str, int] | None = None
              ) -> Partition:
    """Blocks of ``model``'s parameters by a rule (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
    rule : {"paper", "tensor"}
    heads : mapping of module name to int, optional
        Modules whose weight rows split into that many attention heads (Q and K projections);
        the number of rows must be a multiple of it. ``nn.MultiheadAttention`` modules are
        detected and need no entry.

    Returns
    -------
    Partition
    """
    if not isinstance(rule, str) or rule.lower() not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    rule = rule.lower()
    params = named_parameters(model)
    head_map = _heads_of(model, heads) if rule == "paper" else {}
    offsets = np.cumsum([0] + [p.numel() for _, p in params])
    n_params = int(offsets[-1])
    if rule == "tensor":
        blocks = [Block(n, "all", np.arange(offsets[k], offsets[k + 1], dtype=np.int64))
                  for k, (n, _) in enumerate(params)]
        return Partition(blocks, n_params)
    where = {n: k for k, (n, _) in enumerate(params)}
    shape = {n: tuple(p.shape) for n, p in params}
    # a weight matrix's bias (same module, one entry per row) joins the rows' blocks
    bias_of = {}
    for name, p in params:
        mod_name, _, leaf = name.rpartition(".")
        b_leaf = {"weight": "bias", "in_proj_weight": "in_proj_bias"}.get(leaf)
        b_name = f"{mod_name}.{b_leaf}" if mod_name else b_leaf
        if b_leaf and p.dim() >= 2 and shape.get(b_name, ()) == (p.shape[0],):
            bias_of[name] = b_name
    merged = set(bias_of.values())
    blocks: list[Block] = []
    for name, p in params:
        if name in merged:
            continue
        mod_name, _, leaf = name.rpartition(".")
        mod = model.get_submodule(mod_name) if mod_name else model
        off = int(offsets[where[name]])
        if p.dim() < 2:
            blocks.append(Block(name, name, np.arange(off, off + p.numel(), dtype=np.int64)))
            continue
        rows = _rows(off, tuple(p.shape))
        if name in bias_of:
            b = _rows(int(offsets[where[bias_of[name]]]), (p.shape[0], 1))
            rows = np.concatenate([rows, b], axis=1)
        if isinstance(mod, nn.MultiheadAttention) and leaf == "in_proj_weight":
            E = mod.embed_dim
            for part, lo in zip("qkv", (0, E, 2 * E)):
                groups = mod.num_heads if part in "qk" else E
                blocks += _grouped(f"{mod_name}.{part}", rows[lo:lo + E], groups)
            continue
        layer = mod_name if (leaf == "weight" and mod_name) else name
        groups = head_map.get(mod_name, rows.shape[0]) if leaf == "weight" else rows.shape[0]
        if rows.shape[0] % groups:
            raise ValueError(f"heads[{mod_name!r}] = {groups} must divide the {rows.shape[0]} "
                             f"rows of {name}")
        blocks += _grouped(layer, rows, groups)
    return Partition(blocks, n_params)


def _grouped(layer: str, rows: np.ndarray, groups: int) -> list[Block]:
    """``groups`` blocks of consecutive rows (one per row when groups == rows)."""
    per = rows.shape[0] // groups
    tag = "head" if per > 1 else ""
    return [Block(f"{layer}[{tag}{g}]", layer, np.sort(rows[g * per:(g + 1) * per].ravel()))
            for g in range(groups)]


def user_partition(n_params: Any, index_sets: Sequence[Any], layers: Sequence[str] | None = None,
                   names: Sequence[str] | None = None) -> Partition:
    """A partition from index sets into the flat parameter vector.

    Parameters
    ----------
    n_params : int or HessianProblem
        Length of the flat vector (or a problem, whose ``n_params`` is taken).
    index_sets : sequence of int arrays
        One array per block: integer indices in ``[0, n_params)``, non-empty, pairwise disjoint.
    layers : sequence of str, optional
        The layer of each block (default: all in layer ``"all"``).
    names : sequence of str, optional
        Block names (default ``"block[k]"``).

    Returns
    -------
    Partition
    """
    P = getattr(n_params, "n_params", n_params)
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ValueError(f"n_params must be an integer >= 1 (or a HessianProblem), got {P!r}")
    if isinstance(index_sets, (str, bytes)) or not isinstance(index_sets, Sequence):
        raise ValueError("index_sets must be a sequence of integer arrays, one per block")
    K = len(index_sets)
    for what, seq in (("layers", layers), ("names", names)):
        if seq is not None and len(seq) != K:
            raise ValueError(f"{what} must have one entry per block ({K}), got {len(seq)}")
    blocks = []
    for k, s in enumerate(index_sets):
        a = np.asarray(s.cpu().numpy() if isinstance(s, torch.Tensor) else s)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"index_sets[{k}] must be a 1-D integer array, got shape {a.shape} "
                             f"and dtype {a.dtype}")
        blocks.append(Block(names[k] if names is not None else f"block[{k}]",
                            layers[k] if layers is not None else "all",
                            np.sort(a.astype(np.int64))))
    return Partition(blocks, int(P))
