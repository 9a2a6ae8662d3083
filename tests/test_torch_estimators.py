"""rmt.torch: block partitions, HVPs, and Hutchinson block norms against rmt's closed forms.

Every Monte Carlo comparison checks that the exact value lies in the estimator's CI at level
0.99 (a fixed seed, so the test is deterministic; a priori each such check fails with
probability 1 %, and the coverage of these CIs is measured in tests/test_torch_coverage.py).
Exact comparisons use tolerances from float64 rounding, stated beside them.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="rmt.torch needs the torch extra "
                                            "(pip install -e '.[torch]')")

from rmt.hessian import block_norms, hessian  # noqa: E402
from rmt.models import LinearClassifier, OneHiddenLayer  # noqa: E402
from rmt.torch import (  # noqa: E402
    HessianProblem,
    StoppingRule,
    aggregate_norms,
    dense_block_norms,
    pair_norms,
    partition,
    user_partition,
)
from rmt.torch.models import (  # noqa: E402
    MLP,
    TinyGPT,
    ce_loss,
    from_rmt,
    mse_loss,
    token_batch,
)

LEVEL = 0.99


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # small HVPs: a second intra-op thread only adds contention (20x slower on a loaded 2-core
    # machine, measured)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
#: float64 products of O(1) numbers summed over ≤ 1e4 terms: relative rounding ≲ 1e4·eps ≈ 2e-12;
#: 1e-10 leaves a margin for the forward-over-reverse order of operations.
RTOL_EXACT = 1e-10


def _linear(C, d, N, seed=0, sigma=1.0):
    rng = np.random.default_rng(seed)
    m = LinearClassifier.init(C, d, sigma, seed=seed + 1)
    X = rng.standard_normal((N, d))
    y = rng.integers(0, C, N)
    return m, X, y


def _problem(m, X, y, loss):
    mod = from_rmt(m)
    fn = ce_loss if loss == "ce" else mse_loss
    return mod, HessianProblem(mod, fn, torch.from_numpy(X), torch.from_numpy(y))


def test_import_rmt_does_not_import_torch():
    code = "import sys, rmt, rmt.hessian, rmt.claims; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# partitions
# ---------------------------------------------------------------------------------------------

def test_paper_rule_matches_rmt_block_order():
    h = OneHiddenLayer.init(5, 7, 3, seed=0)
    part = partition(from_rmt(h))
    assert [b.size for b in part.blocks] == h.block_sizes()
    assert list(part.layers) == ["V", "W"]
    assert part.blocks[0].index.tolist() == list(range(3))          # row 0 of V
    assert part.blocks[5].index.tolist() == list(range(15, 22))     # row 0 of W


def test_gpt_partition_heads_bias_and_tying():
    m = TinyGPT(50, d_model=16, n_layers=2, n_heads=4, seq_len=8, tied=True, seed=0)
    part = partition(m, heads=m.heads())
    s = part.summary()
    assert s["blocks.0.attn.q"] == (4, 16 * 16 + 16)                # 4 heads, weights + bias
    assert s["blocks.1.attn.v"] == (16, 16 * 16 + 16)               # one block per row
    assert s["blocks.0.fc1"] == (64, 64 * 16 + 64)
    assert s["tok"] == (50, 50 * 16)                                # tied: lm_head is tok
    assert "lm_head" not in s
    assert s["blocks.0.ln1.weight"] == (1, 16)                      # a gain is one block
    untied = partition(TinyGPT(50, d_model=16, seq_len=8, seed=0), heads=m.heads())
    assert untied.summary()["lm_head"] == (50, 50 * 16)


def test_multihead_attention_is_split_by_head():
    mha = torch.nn.MultiheadAttention(8, 2)
    s = partition(mha).summary()
    layers = {k.rsplit(".", 1)[-1]: v for k, v in s.items()}
    assert layers["q"] == (2, 8 * 8 + 8) and layers["k"] == (2, 8 * 8 + 8)
    assert layers["v"] == (8, 8 * 8 + 8)


def test_tensor_rule_and_user_partition():
    m = MLP(4, (3,), 5, seed=0)
    assert [b.size for b in partition(m, "tensor").blocks] == [12, 15]
    p = user_partition(27, [np.arange(3), np.array([5, 4])], layers=["a", "a"])
    assert p.layers["a"].tolist() == [0, 1] and p.blocks[1].index.tolist() == [4, 5]


@pytest.mark.parametrize("sets, msg", [
    ([np.arange(3), np.arange(2, 5)], "disjoint"),
    ([np.array([0, 30])], "outside"),
    ([np.array([], dtype=int)], "empty"),
    ([np.array([0.5])], "integer"),
])
def test_user_partition_rejects_bad_sets(sets, msg):
    with pytest.raises(ValueError, match=msg):
        user_partition(27, sets)


def test_bad_arguments_are_named():
    m, X, y = _linear(4, 3, 8)
    mod, pb = _problem(m, X, y, "ce")
    part = partition(mod)
    with pytest.raises(ValueError, match="rule must be one of"):
        partition(mod, "rows")
    with pytest.raises(ValueError, match="heads"):
        partition(mod, heads={"nope": 2})
    with pytest.raises(ValueError, match="dtype"):
        HessianProblem(mod, ce_loss, torch.from_numpy(X), torch.from_numpy(y), dtype="half")
    with pytest.raises(ValueError, match="shape"):
        pb.hvp(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="layer must be one of"):
        aggregate_norms(pb, part, "W")
    with pytest.raises(ValueError, match="colours"):
        aggregate_norms(pb, part, "V", colours=1)
    with pytest.raises(ValueError, match="pairs"):
        pair_norms(pb, part, np.array([[0, 9]]))
    with pytest.raises(ValueError, match="rtol"):
        StoppingRule(rtol=-1)
    with pytest.raises(ValueError, match="max_params"):
        pb.dense(max_params=4)


# ---------------------------------------------------------------------------------------------
# exact: HVPs and the dense route against rmt's closed forms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, loss", [("linear", "ce"), ("linear", "mse"), ("hidden", "ce"),
                                        ("hidden", "mse")])
def test_dense_route_equals_closed_form(kind, loss):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 5))
    m = (LinearClassifier.init(6, 5, seed=1) if kind == "linear"
         else OneHiddenLayer.init(6, 5, 4, activation="tanh", seed=1))
    y = rng.integers(0, 6, 12)
    mod, pb = _problem(m, X, y, loss)
    H = pb.dense().numpy()
    Href = hessian(m, X, y, loss)
    assert np.max(np.abs(H - Href)) <= RTOL_EXACT * np.max(np.abs(Href))
    part = partition(mod)
    dn = dense_block_norms(pb, part)
    for layer in part.layers:
        ex = block_norms(m, X, y, loss, blocks=layer)
        assert dn.diagonal[layer] == pytest.approx(ex.diagonal, rel=RTOL_EXACT)
        # off-diagonal sums: relative to the diagonal (exactly 0 for MSE V-blocks)
        assert abs(dn.off_diagonal[layer] - ex.off_diagonal) <= RTOL_EXACT * ex.diagonal


# ---------------------------------------------------------------------------------------------
# Monte Carlo: estimates against the closed forms
# ---------------------------------------------------------------------------------------------

def _inside(value, ci):
    return ci[0] <= value <= ci[1]


@pytest.mark.parametrize("C, d, N, rtol", [
    (50, 16, 64, 0.05),
    (10_000, 4, 16, 0.1),
    pytest.param(10_000, 32, 128, 0.02, marks=pytest.mark.slow),
])
def test_linear_ce_aggregate_within_ci(C, d, N, rtol):
    m, X, y = _linear(C, d, N, seed=C)
    mod, pb = _problem(m, X, y, "ce")
    ex = block_norms(m, X, y)
    a = aggregate_norms(pb, partition(mod), "V", seed=7, progress=False,
                        rule=StoppingRule(rtol=rtol, level=LEVEL, max_hvp=4000))
    assert a.converged
    assert _inside(ex.aggregate_ratio, a.aggregate_ci), (ex.aggregate_ratio, a)
    assert _inside(ex.off_diagonal, a.off_diagonal_ci)
    assert _inside(ex.diagonal, a.diagonal_ci)
    assert a.per_block_rms == pytest.approx(a.aggregate / np.sqrt(C - 1), rel=1e-12)


def test_linear_mse_off_diagonal_is_exactly_zero():
    m, X, y = _linear(200, 6, 32)
    mod, pb = _problem(m, X, y, "mse")
    a = aggregate_norms(pb, partition(mod), "V", seed=1, progress=False,
                        rule=StoppingRule(rtol=0.05, atol=1e-300, level=LEVEL))
    assert a.off_diagonal == 0.0 and a.aggregate == 0.0 and a.n_rounds == 16
    assert _inside(block_norms(m, X, y, "mse").diagonal, a.diagonal_ci)


@pytest.mark.parametrize("loss, C, rtol", [
    ("ce", 100, 0.1), ("mse", 100, 0.1),
    pytest.param("ce", 10_000, 0.03, marks=pytest.mark.slow),
    pytest.param("mse", 10_000, 0.03, marks=pytest.mark.slow),
])
def test_hidden_layers_within_ci(loss, C, rtol):
    rng = np.random.default_rng(11)
    d, m_, N = 12, 6, 32
    h = OneHiddenLayer.init(C, d, m_, seed=2)
    X = rng.standard_normal((N, d))
    y = rng.integers(0, C, N)
    mod, pb = _problem(h, X, y, loss)
    part = partition(mod)
    rule = StoppingRule(rtol=rtol, atol=1e-300, level=LEVEL, max_hvp=4000)
    for layer in ("V", "W"):
        ex = block_norms(h, X, y, loss, blocks=layer)
        a = aggregate_norms(pb, part, layer, seed=3, progress=False, rule=rule)
        assert _inside(ex.diagonal, a.diagonal_ci), (layer, ex, a)
        assert _inside(ex.off_diagonal, a.off_diagonal_ci), (layer, ex, a)


def test_pair_norms_and_ratios_within_ci():
    m, X, y = _linear(12, 6, 24, seed=5)
    mod, pb = _problem(m, X, y, "ce")
    pairs = np.array([[0, 1], [0, 0], [7, 3], [7, 7], [3, 7]])
    est = pair_norms(pb, partition(mod), pairs, seed=2, progress=False,
                     rule=StoppingRule(rtol=0.1, level=LEVEL))
    exact = block_norms(m, X, y, pairs=pairs) ** 2
    for t in range(len(pairs)):
        assert _inside(exact[t], est.sq_norm_ci[t]), (t, exact[t], est.sq_norm_ci[t])
    r01 = np.sqrt(exact[0] / exact[1])
    assert _inside(r01, est.ratio_ci[0])
    assert np.isnan(est.ratio[4]) and est.ratio[1] == 1.0
    assert est.names[0] == ("V[0]", "V[1]")


def test_rounds_do_not_depend_on_batching_and_cap_is_reported():
    m, X, y = _linear(20, 6, 16)
    mod, pb = _problem(m, X, y, "ce")
    part = partition(mod)
    rule = StoppingRule(rtol=0.0, min_rounds=6, max_hvp=12)
    a = aggregate_norms(pb, part, "V", seed=4, batch=1, rule=rule, progress=False)
    b = aggregate_norms(pb, part, "V", seed=4, batch=5, rule=rule, progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not a.converged and a.n_hvp == 12 and a.n_rounds == 6


def test_colourings_agree_with_each_other_and_the_exact_value():
    m, X, y = _linear(16, 8, 32, seed=9)
    mod, pb = _problem(m, X, y, "ce")
    part = partition(mod)
    ex = block_norms(m, X, y).aggregate_ratio
    for K in (3, "blocks"):
        a = aggregate_norms(pb, part, "V", colours=K, seed=K if K == 3 else 5, progress=False,
                            rule=StoppingRule(rtol=0.1, level=LEVEL))
        assert _inside(ex, a.aggregate_ci), (K, a)


def test_gpt_lm_head_estimate_equals_linear_closed_form_on_its_features():
    # the lm_head is the last layer: its Hessian block is the linear CE model's on the final
    # LayerNorm features, so rmt's closed form applies exactly
    C = 300
    g = TinyGPT(C, d_model=16, n_layers=2, n_heads=2, seq_len=8, seed=1).double()
    x, y = token_batch(C, 4, 8, seed=2)
    pb = HessianProblem(g, ce_loss, x, y)
    part = partition(g, heads=g.heads())
    with torch.no_grad():
        F = g.features(x).numpy()
    lin = LinearClassifier(g.lm_head.weight.detach().numpy().copy())
    ex = block_norms(lin, F, y.reshape(-1).numpy())
    a = aggregate_norms(pb, part, "lm_head", seed=0, progress=False,
                        rule=StoppingRule(rtol=0.05, level=LEVEL))
    assert _inside(ex.aggregate_ratio, a.aggregate_ci), (ex, a)
