"""Results files: round trip, provenance, atomic writes, and clear errors for foreign files."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xarray", reason="xarray is not installed (pip install 'rmt[sweep]')")

from rmt import results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _dataset() -> "xr.Dataset":
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "ratio": (("C", "seed"), rng.random((2, 3)), {"units": "1", "meta": {"norm": "F"}}),
            "eigs": (("C", "seed", "k"), rng.random((2, 3, 4))),
        },
        coords={"C": [10, 50], "seed": [0, 1, 2], "loss": ("C", ["ce", "mse"])},
        attrs={"flag": True, "nothing": None, "big": 2**40, "nested": {"a": [1, 2.5, "x"]},
               "text": "γ = 1/2"},
    )


def _bare(ds: "xr.Dataset") -> "xr.Dataset":
    """``ds`` without attributes (Dataset.drop_attrs is newer than xarray 2024.1)."""
    out = ds.copy()
    out.attrs = {}
    for var in out.variables.values():
        var.attrs = {}
    return out


def _no_temporaries(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.startswith((".tmp-", ".old-"))]


@pytest.mark.parametrize("name", ["r.nc", "sub/dir/r.nc"])
def test_netcdf_round_trip_keeps_data_and_attributes(tmp_path, name):
    ds = _dataset()
    before = {k: v for k, v in ds.attrs.items()}
    path = results.save(ds, tmp_path / name, seed=7, parameters={"gamma": 0.5, "Cs": [10, 50]})
    assert ds.attrs == before, "save must not modify its input"
    back = results.open(path)
    xr.testing.assert_equal(back, ds)  # values and coordinates, exactly
    for key in ("flag", "nothing", "big", "nested", "text"):
        assert back.attrs[key] == ds.attrs[key]
    assert back["ratio"].attrs == {"units": "1", "meta": {"norm": "F"}}
    assert back.attrs["seed"] == 7
    assert back.attrs["parameters"] == {"gamma": 0.5, "Cs": [10, 50]}
    assert _no_temporaries(path.parent)


def test_provenance_attributes(tmp_path):
    back = results.open(results.save(_dataset(), tmp_path / "r.nc", command="python -m x --y"))
    a = back.attrs
    assert a["rmt_format"] == results.FORMAT and a["rmt_format_version"] == results.FORMAT_VERSION
    assert a["backend"] == "numpy"
    assert isinstance(a["device"], str) and a["device"]
    assert {"rmt", "numpy", "scipy", "xarray"} <= set(a["versions"])
    assert a["versions"]["numpy"] == np.__version__
    assert a["git_revision"] is None or (len(a["git_revision"]) >= 40)
    created = dt.datetime.fromisoformat(a["created"])
    assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 3600
    assert a["command"] == "python -m x --y"
    assert a["seed"] is None and a["parameters"] is None


def test_existing_attributes_kept_and_keywords_override(tmp_path):
    ds = _dataset().assign_attrs(seed=1, backend="numpy", device="my box", command="old")
    back = results.open(results.save(ds, tmp_path / "r.nc", seed=2))
    assert back.attrs["seed"] == 2  # keyword wins
    assert back.attrs["device"] == "my box" and back.attrs["command"] == "old"  # kept
    # Re-saving what was read keeps its provenance (e.g. the creation time).
    again = results.open(results.save(back, tmp_path / "r2.nc"))
    assert again.attrs["created"] == back.attrs["created"]


def test_git_revision_none_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    results.git_revision.cache_clear()
    monkeypatch.setattr(results.subprocess, "run", no_git)
    try:
        assert results.git_revision() is None
    finally:
        results.git_revision.cache_clear()


def test_large_integers(tmp_path):
    ds = xr.Dataset({"x": ("N", [1.0, 2.0])}, coords={"N": [2**31, 2**40]})
    back = results.open(results.save(ds, tmp_path / "r.nc"))
    assert back["N"].values.tolist() == [2**31, 2**40]  # stored exactly (as float64)
    huge = xr.Dataset({"x": ("N", [1.0])}, coords={"N": [2**60]})
    with pytest.raises(ValueError, match="beyond 2\\*\\*53"):
        results.save(huge, tmp_path / "h.nc")
    assert not (tmp_path / "h.nc").exists()


def test_failed_save_leaves_old_file_and_no_temporaries(tmp_path):
    path = results.save(_dataset(), tmp_path / "r.nc", seed=1)
    before = path.read_bytes()
    bad = _dataset().assign_attrs(thing=object())
    with pytest.raises(ValueError, match="attribute 'thing'"):
        results.save(bad, path)
    assert path.read_bytes() == before
    assert _no_temporaries(tmp_path)


def test_atomic_path_cleans_up_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with results.atomic_path(target) as tmp:
            tmp.write_bytes(b"half-writ")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    with results.atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_non_rmt_netcdf_is_rejected(tmp_path):
    path = tmp_path / "foreign.nc"
    _bare(_dataset()).to_netcdf(path, engine="scipy")
    with pytest.raises(results.NotAResultsFileError, match="not an rmt results file"):
        results.open(path)
    with pytest.raises(ValueError, match="foreign.nc"):
        results.open(path)


def test_garbage_and_truncated_files_are_rejected(tmp_path):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"this is not netCDF at all\n" * 10)
    with pytest.raises(results.NotAResultsFileError, match="not a readable netCDF file"):
        results.open(junk)
    good = results.save(_dataset(), tmp_path / "good.nc")
    cut = tmp_path / "cut.nc"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(results.NotAResultsFileError, match="cut.nc"):
        results.open(cut)
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        results.open(tmp_path / "missing.nc")


def test_newer_layout_version_is_rejected(tmp_path):
    ds = _bare(_dataset())
    ds.attrs = {"rmt_format": results.FORMAT, "rmt_format_version": results.FORMAT_VERSION + 1}
    ds.to_netcdf(tmp_path / "new.nc", engine="scipy")
    with pytest.raises(results.NotAResultsFileError, match="layout version"):
        results.open(tmp_path / "new.nc")


@pytest.mark.parametrize("name", ["r.h5", "r", "r.csv"])
def test_bad_suffix(tmp_path, name):
    with pytest.raises(ValueError, match="path must end in one of"):
        results.save(_dataset(), tmp_path / name)


def test_not_a_dataset(tmp_path):
    with pytest.raises(TypeError, match="ds must be an xarray.Dataset"):
        results.save({"x": 1}, tmp_path / "r.nc")


def test_zarr_round_trip(tmp_path):
    pytest.importorskip("zarr", reason="zarr is not installed (optional .zarr results)")
    ds = _dataset()
    path = results.save(ds, tmp_path / "r.zarr", seed=3)
    path = results.save(ds, tmp_path / "r.zarr", seed=4)  # replacing a store is atomic too
    back = results.open(path)
    xr.testing.assert_equal(back, ds)
    assert back.attrs["seed"] == 4 and back.attrs["nested"] == ds.attrs["nested"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]


def test_missing_xarray_gives_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xarray", None)  # makes `import xarray` raise ImportError
    with pytest.raises(ImportError, match=r"rmt\[sweep\]"):
        results.save(object(), tmp_path / "r.nc")
    with pytest.raises(ImportError, match=r"rmt\[sweep\]"):
        results.open(tmp_path / "r.nc")


def test_core_imports_without_xarray_or_dask():
    code = (
        "import sys\n"
        "for m in ('xarray', 'dask', 'distributed', 'zarr'):\n"
        "    sys.modules[m] = None\n"
        "import rmt, rmt.results, rmt.sweep\n"
        "g = rmt.sweep.Grid({'a': [1, 2]}, n_seeds=2)\n"
        "assert g.n_cells == 4\n"
        "try:\n"
        "    rmt.sweep.run_sweep(lambda a, seed: {'x': a}, g, 'never.nc')\n"
        "except ImportError as e:\n"
        "    assert 'rmt[sweep]' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('expected ImportError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert not (REPO / "never.nc").exists()
