"""The README's shell commands, each with the reduced arguments that tests/test_readme_commands.py
runs it with in a fresh clone, and what the README says it prints or writes.

Keys are the README's commands as written (comments dropped, ``a && b`` split in two, spaces
collapsed); the test checks that every README command has an entry here and every entry is
still in the README. ``args`` are appended to the command (they make it small: the README's
sizes take minutes to hours); ``expect`` are substrings of its standard output (or of the
one-line error for ``status`` 2); ``files`` must exist afterwards, relative to the clone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reduced:
    args: str = ""
    expect: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    status: int = 0
    #: Needs a GPU: without one the command must fail in one line with exit 2 naming CuPy.
    gpu: bool = False
    #: Installs the package (into the test's virtual environment, without dependencies: they
    #: are installed already).
    install: bool = False
    #: ``"dist==version"``: run only when that is installed already (then pip answers
    #: "Requirement already satisfied" without a download); skipped otherwise.
    if_installed: str = ""


_SPECTRA = "--dim 40 --n-samples 80 --trials 2 --law-samples 8192 --bins 20"
_RATIO = "--c-max 20 --seeds 2 --dim 16 --pairs 8"

_TRAIN = "--steps 12 --n-samples 64 --seeds 2 --dim 4 --hidden 8"

COMMANDS: dict[str, Reduced] = {
    "pip install -e .": Reduced(install=True),
    # The verdict table, the report and the figures of two claims (all 24 take minutes).
    "rmt verify": Reduced("--claims linear-ce-v0-per-block linear-ce-psd",
                          expect=("| claim", "linear-ce-v0-per-block", "holds",
                                  "Report: rmt-report/report.md"),
                          files=("rmt-report/report.md", "rmt-report/results.json",
                                 "rmt-report/figures/linear-ce-v0-per-block.pdf",
                                 "rmt-report/figures/linear-ce-v0-per-block.png")),
    "pip install -e '.[test]'": Reduced(install=True),
    # One test file of the suite (the suite itself is what runs this test).
    "python -m pytest": Reduced("-q -p no:cacheprovider tests/test_readme.py -k ci_runs",
                                expect=("1 passed",)),
    # Already small: the README's numbers 1/199 and 1/√199.
    "rmt hessian --model linear --loss ce --classes 200 --dim 400 --samples 800 --sigma 0":
        Reduced(expect=("0.00502513", "0.0708881", "method: exact")),
    "python -m simulations.block_spectra": Reduced(
        _SPECTRA, expect=("KS to law", "wrote results/block_spectra.nc"),
        files=("results/block_spectra.nc", "results/block_spectra.png")),
    "python -m simulations.block_ratio": Reduced(
        _RATIO, expect=("estimated", "wrote results/block_ratio.nc"),
        files=("results/block_ratio.nc", "results/block_ratio.png")),
    # Run after the linear one, as the README orders them: both results files are kept.
    "python -m simulations.block_ratio --model hidden": Reduced(
        _RATIO + " --hidden 4 --prediction-features 1024",
        expect=("finite-sigma prediction", "wrote results/block_ratio_hidden.nc"),
        files=("results/block_ratio.nc", "results/block_ratio_hidden.nc",
               "results/block_ratio_hidden.png")),
    "python -m simulations.heatmap": Reduced(
        expect=("linear, C=100", "wrote results/heatmap.pdf"), files=("results/heatmap.png",)),
    "OPENBLAS_NUM_THREADS=1 python -m simulations.lindeberg --out results/lindeberg": Reduced(
        "--dims 40,60 --regime-max-dim 60 --trials 4 --trials-cd 4 --path-dim 30 "
        "--path-trials 4 --boot 100",
        expect=("wrote results/lindeberg.json",),
        files=("results/lindeberg_rate.png", "results/lindeberg_path.png")),
    # The same sweep as the block_spectra command above, on local worker processes.
    "python -m simulations.block_spectra --scheduler processes --out results/block_spectra.nc":
        Reduced(_SPECTRA, expect=("KS to law", "wrote results/block_spectra.nc")),
    # The torch extra: torch itself (a 183 MiB download, run only when already installed),
    # then the package with the extra (the install above, again).
    "pip install torch==2.13.0": Reduced(expect=("already satisfied",),
                                         if_installed="torch==2.13.0"),
    "pip install -e '.[torch]'": Reduced(install=True),
    "rmt verify --backend cupy --scale llm": Reduced("--claims linear-ce-v0-aggregate",
                                                     gpu=True),
    "rmt hessian --backend cupy --classes 32000 --dim 1024 --samples 8192 --dtype float32":
        Reduced(gpu=True, expect=("aggregate",)),
    "python -m pytest -m gpu": Reduced("-q -p no:cacheprovider tests/test_backend.py",
                                       expect=("passed|skipped",)),
    # Training with Hessian snapshots: 12 steps, N = 64, d = 4, m = 8, two small C each.
    "python -m simulations.training_dynamics --C 10 100 --out results/training_hidden_c10_100.nc":
        Reduced(_TRAIN + " --C 3 5", expect=("wrote results/training_hidden_c10_100.nc",),
                files=("results/training_hidden_c10_100_table.md",)),
    "python -m simulations.training_dynamics --C 1000 --seeds 3 --out "
    "results/training_hidden_c1000.nc --no-figure":
        Reduced(_TRAIN + " --C 6", expect=("wrote results/training_hidden_c1000.nc",)),
    "python -m simulations.training_dynamics --redraw --out results/training_hidden_c10_100.nc "
    "--also results/training_hidden_c1000.nc":
        Reduced(expect=("results/training_hidden_c10_100_table.md",)),
    "python -m simulations.training_dynamics --models deep --C 10 100 --seeds 3 --out "
    "results/training_deep.nc": Reduced(_TRAIN + " --C 3",
                                        expect=("wrote results/training_deep.nc",)),
    # The GPU-marked tests through the CuPy stand-in (the README's ~1-2 min).
    "python -m pytest -m gpu --cupy-standin": Reduced("-q -p no:cacheprovider",
                                                      expect=("passed",)),
    "python benchmarks/gpu_check.py": Reduced("--quick", gpu=True),
}
