"""The torch_blocks claims: registered with rivals when torch is importable; the lm_head rate
holds at the quick scale (exact on the features, seconds); the HVP claims run in `slow`."""

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


@pytest.mark.parametrize("cid", [
    "torch-gpt-lm-head-per-block-rate",
    pytest.param("torch-hvp-linear-closed-form", marks=pytest.mark.slow),
    pytest.param("torch-mlp-hidden-rate", marks=pytest.mark.slow),
])
def test_claim_holds_at_quick_scale(cid):
    res = run_claim(registry()[cid], "quick", seed=0)
    assert res.verdict.status == "holds", res.verdict.reason
