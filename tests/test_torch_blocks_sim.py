"""simulations.torch_blocks: a tiny resumable run end to end, and its argument errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the simulation needs the torch extra "
                                            "(pip install -e '.[torch]')")
pytest.importorskip("xarray", reason="sweeps need the sweep extra")

from simulations import torch_blocks as tb  # noqa: E402


def test_tiny_mlp_sweep_and_resume(tmp_path, capsys):
    argv = ["--model", "mlp", "--C", "4", "8", "16", "--seeds", "2", "--head-seeds", "2",
            "--layers", "layers.0", "--max-hvp", "64", "--out", str(tmp_path / "t.nc"),
            "--quiet"]
    assert tb.main(argv) == 0
    first = capsys.readouterr().out
    assert "layers.0 (2 seeds)" in first and "out (exact) (2 seeds)" in first
    assert (tmp_path / "t_mlp.png").exists()
    assert tb.main(argv) == 0                       # resumed: every cell reused, same numbers
    assert capsys.readouterr().out == first


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        tb.main(["--rtol", "0"])
    assert exc.value.code == 2
    assert "--rtol" in capsys.readouterr().err
