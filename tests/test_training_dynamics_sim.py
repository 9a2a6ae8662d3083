"""The training-dynamics simulation end to end at toy sizes, its errors, and the figure helpers."""

from __future__ import annotations

import numpy as np
import pytest

from rmt import figures as F
from rmt import training_figures as TF

pytest.importorskip("xarray")

TOY = ["--models", "linear", "hidden", "--C", "3", "--losses", "ce", "mse", "--optimizers", "adam",
       "--seeds", "2", "--steps", "4", "--n-samples", "24", "--dim", "3", "--hidden", "6",
       "--heatmap-C", "3", "--heatmap-optimizer", "adam", "--quiet"]


@pytest.mark.slow   # three rendered figures: matplotlib's layout dominates (minutes on a busy CPU)
def test_simulation_figures(tmp_path):
    from simulations import training_dynamics as sim  # noqa: PLC0415

    assert sim.main([*TOY, "--out", str(tmp_path / "td.nc")]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    for stem in ("td_curves_hidden_adam", "td_residual_vs_loss_hidden", "td_heatmap"):
        assert f"{stem}.png" in names and f"{stem}.pdf" in names


def test_simulation_runs_resumes_and_redraws(tmp_path, capsys):
    from simulations import training_dynamics as sim  # noqa: PLC0415

    out = tmp_path / "td.nc"
    assert sim.main([*TOY, "--out", str(out), "--no-figure"]) == 0
    assert not list(tmp_path.glob("*.png"))
    from rmt import results  # noqa: PLC0415

    ds = results.open(out)
    assert ds.attrs["layout"] == sim.LAYOUT and ds.attrs["ci_level"] == 0.95
    assert ds.sizes["seed"] == 2 and ds["cross_res_Lm1_L"].sel(model="linear").isnull().all()
    capsys.readouterr()
    assert sim.main([*TOY[:-1], "--out", str(out), "--redraw", "--no-figure"]) == 0
    text = capsys.readouterr().out
    assert "hidden: mean [95% t-CI over 2 seeds]" in text and "ce  C=3" in text
    from rmt.experiments.training_dynamics import markdown_table  # noqa: PLC0415

    md = markdown_table(ds).splitlines()   # (CE, MSE) x (0, 50, 100 %)
    assert len(md) == 2 + 6 and md[2].startswith("| CE | 3 | adam | 2 | 0 |")
    assert (tmp_path / "td_table.md").read_text().splitlines() == md
    # a second file at another C with more seeds, drawn and tabulated with the first
    other = tmp_path / "td4.nc"
    assert sim.main([*TOY[:4], "4", *TOY[5:11], "3", *TOY[12:], "--out", str(other),
                     "--no-figure"]) == 0
    assert sim.main([*TOY, "--out", str(out), "--redraw", "--also", str(other),
                     "--no-figure"]) == 0
    md = (tmp_path / "td_table.md").read_text().splitlines()
    assert len(md) == 2 + 12 and sum("| CE | 4 | adam | 3 |" in r for r in md) == 3
    assert sim.main([*TOY, "--out", str(out), "--also", str(other)]) == 2


def test_simulation_errors(tmp_path, capsys):
    from simulations import training_dynamics as sim  # noqa: PLC0415

    assert sim.main(["--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    bad = tmp_path / "x.nc"
    bad.write_text("not a results file")
    assert sim.main(["--out", str(bad), "--redraw", "--quiet"]) == 2
    assert "error" in capsys.readouterr().err


def test_figure_helpers_validate_and_draw():
    H = np.arange(36.0).reshape(6, 6)
    T = TF.tile_norms(H, [2, 1, 3], normalise="frobenius")
    assert T.shape == (3, 3) and np.isclose(T[0, 0], np.linalg.norm(H[:2, :2]))
    R = TF.tile_norms(H, [2, 1, 3])
    assert np.isclose(R[2, 0], np.linalg.norm(H[3:, :2]) / np.sqrt(6))
    with pytest.raises(ValueError, match="block_sizes"):
        TF.tile_norms(H, [2, 2])
    fig, ax = F.figure("single")
    with pytest.raises(ValueError, match="layer_sizes"):
        TF.layer_tile_heatmap(ax, T, [1, 1])
    with pytest.raises(ValueError, match="no non-zero"):
        TF.layer_tile_heatmap(ax, np.zeros((2, 2)), [1, 1])
    im = TF.layer_tile_heatmap(ax, T, [2, 1], layer_names=["V", "W"])
    assert im.norm.vmin > 0
    with pytest.raises(ValueError, match="mean"):
        TF.curves_vs_step(ax, [0, 1, 2], np.ones((2, 4)))
    with pytest.raises(ValueError, match="labels"):
        TF.curves_vs_step(ax, [0, 1], np.ones((2, 2)), labels=["a"])
    with pytest.raises(ValueError, match="same shape"):
        TF.residual_vs_loss(ax, np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="ax"):
        TF.curves_vs_step(None, [0], [[1.0]])
