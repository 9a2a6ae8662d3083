"""Synthetic classification data: shapes, determinism, the generators' laws, bad inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog

from rmt.datasets import KINDS, make_classification


@given(st.integers(1, 60), st.integers(1, 12), st.integers(2, 30), st.sampled_from(KINDS),
       st.integers(0, 2**32))
def test_shapes_labels_and_determinism(N, d, C, kind, seed):
    X, y = make_classification(N, d, C, kind=kind, seed=seed)
    assert X.shape == (N, d) and X.dtype == np.float64 and np.all(np.isfinite(X))
    assert y.shape == (N,) and y.dtype == np.int64 and y.min() >= 0 and y.max() < C
    X2, y2 = make_classification(N, d, C, kind=kind, seed=seed)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


def test_float32_and_seed_sequence_not_advanced():
    ss = np.random.SeedSequence(7)
    X1, y1 = make_classification(20, 5, 3, seed=ss, dtype="float32")
    X2, y2 = make_classification(20, 5, 3, seed=ss, dtype="float32")
    assert X1.dtype == np.float32
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)


def test_teacher_inputs_do_not_depend_on_labelling_and_small_temperature_is_argmax():
    X0, y0 = make_classification(500, 10, 7, seed=3)
    Xt, yt = make_classification(500, 10, 7, temperature=1e-9, seed=3)
    Xh, _ = make_classification(500, 10, 7, teacher_hidden=5, seed=3)
    assert np.array_equal(X0, Xt) and np.array_equal(X0, Xh)
    # Teacher logits have O(1) gaps; at τ = 1e-9 softmax(t/τ) puts mass < exp(-1e6) off the
    # argmax unless two logits tie to 1e-8, which has probability ~1e-7 per sample.
    assert np.array_equal(y0, yt)


def test_high_temperature_labels_are_uniform():
    # τ = 1e6: softmax(t/τ) is uniform to 1e-5, so the counts are multinomial(N, 1/C);
    # a chi-square goodness-of-fit test at level 1e-4 fails by chance once in 10,000 seeds.
    from scipy.stats import chisquare

    N, C = 6000, 6
    _, y = make_classification(N, 8, C, temperature=1e6, seed=11)
    assert chisquare(np.bincount(y, minlength=C)).pvalue > 1e-4


@pytest.mark.parametrize("hidden", [None, 4])
def test_teacher_classes_balanced_by_symmetry(hidden):
    # The teacher's rows are exchangeable, so each class has probability 1/C averaged over
    # teachers (one teacher favours some classes). A t-test per class on the frequencies of 30
    # independent teachers, level 1e-4 with a Bonferroni split over the C classes.
    from scipy.stats import ttest_1samp

    C, T = 4, 30
    freq = np.array([np.bincount(make_classification(400, 6, C, teacher_hidden=hidden,
                                                     seed=s)[1], minlength=C) / 400
                     for s in range(T)])
    p = ttest_1samp(freq, 1.0 / C, axis=0).pvalue
    assert np.all(p > 1e-4 / C)   # Bonferroni over the C classes


def test_linear_teacher_at_zero_temperature_is_linearly_separable():
    # Feasibility LP: find V with (v_y − v_c)·x_n ≥ 1 for all n and c ≠ y (exists iff the
    # labels are a strict argmax of some linear map, which the teacher provides).
    N, d, C = 60, 5, 3
    X, y = make_classification(N, d, C, seed=5)
    rows = []
    for n in range(N):
        for c in range(C):
            if c != y[n]:
                r = np.zeros((C, d))
                r[y[n]] -= X[n]
                r[c] += X[n]
                rows.append(r.ravel())
    res = linprog(np.zeros(C * d), A_ub=np.array(rows), b_ub=-np.ones(len(rows)),
                  bounds=[(None, None)] * (C * d), method="highs")
    assert res.status == 0


def test_mixture_means_have_norm_snr_and_unit_noise():
    # Class c: x = μ_c + N(0, I). Per class, the sample mean μ̂_c has E‖μ̂_c‖² = ‖μ_c‖² + d/n_c
    # and E‖μ_c‖² = snr²; the within-class variance per coordinate is 1. Tolerances: 5 standard
    # errors of the means over classes / over coordinates.
    N, d, C, snr = 20_000, 10, 200, 2.5
    X, y = make_classification(N, d, C, kind="mixture", snr=snr, seed=2)
    counts = np.bincount(y, minlength=C)
    assert counts.min() >= 2
    mu = np.stack([X[y == c].mean(axis=0) for c in range(C)])
    q = (mu ** 2).sum(axis=1) - d / counts
    assert abs(q.mean() - snr ** 2) < 5 * q.std(ddof=1) / np.sqrt(C)
    R = X - mu[y]
    var = (R ** 2).sum(axis=0) / (N - C)        # unbiased pooled within-class variance
    assert np.all(np.abs(var - 1) < 5 * np.sqrt(2 / (N - C)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0), "n_samples"),
    (dict(dim=0), "dim"),
    (dict(n_classes=1), "n_classes"),
    (dict(kind="spiral"), "kind"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(snr=0.0), "snr"),
    (dict(teacher_hidden=0), "teacher_hidden"),
    (dict(kind="mixture", temperature=1.0), "kind='teacher'"),
    (dict(backend="tpu"), "backend"),
    (dict(dtype="int32"), "dtype"),
    (dict(seed=-1), "seed"),
])
def test_bad_inputs(kwargs, match):
    args = dict(n_samples=10, dim=3, n_classes=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_classification(args.pop("n_samples"), args.pop("dim"), args.pop("n_classes"),
                            **args)


def test_soft_targets_share_inputs_and_sampled_labels_follow_them():
    from scipy.stats import chisquare

    from rmt.datasets import make_soft_targets

    N, d, C, tau = 6000, 5, 3, 0.7
    X, Q = make_soft_targets(N, d, C, temperature=tau, seed=9)
    Xh, y = make_classification(N, d, C, temperature=tau, seed=9)
    assert np.array_equal(X, Xh) and Q.shape == (N, C)
    assert np.all(Q > 0) and np.abs(Q.sum(axis=1) - 1).max() < 4 * C * np.finfo(float).eps
    # y_n ~ Q_n independently: the class counts are a sum of independent categoricals with
    # expected counts Σ_n Q_n; the Poisson-binomial variance is below the multinomial one, so the
    # chi-square test at level 1e-4 is conservative.
    assert chisquare(np.bincount(y, minlength=C), Q.sum(axis=0)).pvalue > 1e-4
    with pytest.raises(ValueError, match="temperature"):
        make_soft_targets(3, 2, 2, temperature=0.0)
