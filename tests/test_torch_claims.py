"""The torch_blocks claims: registered with rivals when torch is importable; the lm_head rate
holds at the quick scale (exact on the features, seconds); the exact first-layer block sums of
the MLP claim equal the dense Hessian's; the heavier claims run in `slow`."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the torch_blocks claims need the torch extra "
                                    "(pip install -e '.[torch]')")

from rmt.catalog import torch_blocks  # noqa: E402
from rmt.claims import registry, run_claim  # noqa: E402


def test_registered_with_rivals_and_nothing_skipped():
    reg = registry()
    assert torch_blocks.SKIPPED == {}
    for cid in torch_blocks.CLAIM_IDS:
        assert cid in reg and len(reg[cid].rivals) >= 2
        assert reg[cid].params("paper")


@pytest.mark.parametrize("widths", [(5,), (5, 4), (6, 5, 4)])
def test_first_layer_block_sums_equal_the_dense_hessian(widths):
    """The Gauss–Newton form of the first layer's blocks is exact for ReLU nets: equal to the
    dense Hessian's block sums (by unit-vector HVPs) to float64 rounding (rtol 1e-10)."""
    from rmt.torch import HessianProblem, dense_block_norms, partition
    from rmt.torch.models import MLP, ce_loss, gaussian_batch

    net = MLP(4, widths, 3, seed=1).double()
    x, y = gaussian_batch(10, 4, 3, seed=2)
    dense = dense_block_norms(HessianProblem(net, ce_loss, x, y), partition(net))
    off, dia = torch_blocks.first_layer_block_sums(net, x, chunk=2)     # chunks over classes
    assert off == pytest.approx(dense.off_diagonal["layers.0"], rel=1e-10)
    assert dia == pytest.approx(dense.diagonal["layers.0"], rel=1e-10)


@pytest.mark.parametrize("cid", [
    "torch-gpt-lm-head-per-block-rate",
    pytest.param("torch-hvp-linear-closed-form", marks=pytest.mark.slow),
    pytest.param("torch-mlp-hidden-rate", marks=pytest.mark.slow),
])
def test_claim_holds_at_quick_scale(cid):
    res = run_claim(registry()[cid], "quick", seed=0)
    assert res.verdict.status == "holds", res.verdict.reason
