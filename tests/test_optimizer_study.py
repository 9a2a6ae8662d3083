"""The optimiser comparison: the soft-teacher problem and one learning-rate-tuned trial."""

import math

import numpy as np
import pytest

from rmt.hessian import hessian
from rmt.models import LinearClassifier
from rmt.optim import loss_only
from rmt.optimizer_study import GRIDS, optimizer_trial, soft_teacher_problem


def test_problem_minimum_and_lambda_max():
    pb = soft_teacher_problem(6, 8, 30, seed=0)
    H = hessian(LinearClassifier(pb.params["V"]), pb.X)
    lam = np.linalg.eigvalsh(H)[-1]
    # 30 Lanczos steps on n = 48 with Ritz residual padding: an upper bound, tight to 1e-6.
    assert lam <= pb.lambda_max * (1 + 1e-12) and pb.lambda_max <= lam * (1 + 1e-6)
    assert pb.loss_star < pb.loss_init
    assert pb.loss_init == pytest.approx(loss_only(pb.params, pb.X, pb.Q), rel=1e-15)


@pytest.mark.parametrize("opt", ["gd", "adam", "adam-mini", "muon"])
def test_trial_picks_the_fastest_rate_and_records_the_curve(opt):
    pb = soft_teacher_problem(5, 6, 24, seed=1)
    t = optimizer_trial(opt, 5, 6, 24, budget=200, target_fraction=0.05, problem=pb)
    assert t.lrs.size == len(GRIDS[opt]) and t.curve.shape == (201,)
    if opt == "gd":
        np.testing.assert_allclose(t.lrs, np.array(GRIDS["gd"]) / pb.lambda_max, rtol=1e-15)
    assert t.curve[0] == pytest.approx(1.0, rel=1e-12)
    if np.isfinite(t.steps).any():
        assert t.best_steps == np.nanmin(t.steps)
        k = int(t.best_steps)
        # The full-budget rerun repeats the tuning run step for step (deterministic).
        assert t.curve[k] <= 0.05 and np.all(t.curve[:k] > 0.05)
    else:
        assert t.gaps[t.best] == np.min(t.gaps)


def test_shared_problem_gives_identical_trials():
    a = optimizer_trial("adam", 4, 5, 20, budget=40, seed=3)
    b = optimizer_trial("adam", 4, 5, 20, budget=40, problem=soft_teacher_problem(4, 5, 20,
                                                                                seed=3))
    np.testing.assert_array_equal(a.curve, b.curve)
    assert math.isfinite(a.lambda_max)


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="sgd"), "optimizer"),
    (dict(budget=0), "budget"),
    (dict(target_fraction=1.0), "target_fraction"),
    (dict(grid=()), "grid"),
    (dict(grid=(0.1, -1.0)), "grid"),
])
def test_bad_inputs(kwargs, match):
    args = dict(optimizer="adam", n_classes=3, dim=2, n_samples=6, budget=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        optimizer_trial(args.pop("optimizer"), args.pop("n_classes"), args.pop("dim"),
                        args.pop("n_samples"), **args)
