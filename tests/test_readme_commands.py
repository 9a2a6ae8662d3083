"""The README's shell commands, top to bottom, as a new user runs them (issue 18, "must show").

* Default run: every README command is in :data:`readme_commands.COMMANDS` (and every entry is
  still in the README); each command's own arguments parse; ``--help`` works and a bad flag is
  one line with exit status 2.
* ``slow``: every command run in that order in one fresh clone of this checkout (``git clone``,
  plus the uncommitted changes, so that the working tree is what is tested), installed with
  ``pip install -e`` into a virtual environment, at the reduced sizes of the mapping, each
  printing what the README says.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from readme_commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def readme_commands(text: str | None = None) -> list[str]:
    """The shell commands of the README's ```bash blocks, in order: lines continued with a
    backslash joined, comments dropped, each ``a && b`` split in two, spaces collapsed."""
    text = (ROOT / "README.md").read_text() if text is None else text
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            out += [" ".join(part.split()) for part in line.split("&&") if part.strip()]
    return out


def test_every_readme_command_has_reduced_arguments_and_no_entry_is_stale():
    cmds = readme_commands()
    assert len(cmds) >= 10
    missing = [c for c in cmds if c not in COMMANDS]
    stale = [c for c in COMMANDS if c not in cmds]
    assert not missing, f"README commands without an entry in tests/readme_commands.py: {missing}"
    assert not stale, f"entries of tests/readme_commands.py no longer in the README: {stale}"


def test_readme_command_splitting():
    text = ("x\n```bash\nA=1 b --c 2   # note\nd && e 'f g'\nh --i \\\n    --j k   # more\n```\n"
            "```python\nno\n```\n")
    assert readme_commands(text) == ["A=1 b --c 2", "d", "e 'f g'", "h --i --j k"]


def _program(cmd: str):
    """(parser, main, argv) of an rmt command line, or None for pip and pytest."""
    words = [w for w in shlex.split(cmd) if not re.fullmatch(r"[A-Z_]+=\S*", w)]
    if words[0] == "rmt":
        from rmt import cli
        return cli.build_parser(), cli.main, words[1:]
    if words[:2] == ["python", "-m"] and words[2].startswith("simulations."):
        import importlib
        mod = importlib.import_module(words[2])
        return mod.build_parser(), mod.main, words[3:]
    return None


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if _program(c) is not None])
def test_readme_command_parses_has_help_and_refuses_a_bad_flag(cmd, capsys):
    parser, main, argv = _program(cmd)
    parser.parse_args(argv)                                  # the README's own arguments
    parser.parse_args(argv + shlex.split(COMMANDS[cmd].args))   # and the reduced ones
    sub = argv[:1] if cmd.startswith("rmt ") else []
    with pytest.raises(SystemExit) as ex:
        main(sub + ["--help"])
    assert ex.value.code == 0 and "usage:" in capsys.readouterr().out
    assert main(argv + ["--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-such-flag" in err, err


# --------------------------------------------------------------------------------------------
# The real run, in a fresh clone


def _clone(dest: Path) -> Path:
    """``git clone`` of this checkout, with its uncommitted changes and untracked (not ignored)
    files laid over it: a fresh clone of exactly the working tree under test."""
    repo = dest / "rmt-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    diff = subprocess.run(["git", "-C", str(ROOT), "diff", "--binary", "HEAD"], check=True,
                          capture_output=True).stdout
    if diff:
        subprocess.run(["git", "-C", str(repo), "apply", "--whitespace=nowarn", "-"],
                       input=diff, check=True)
    untracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others",
                                "--exclude-standard", "-z"], check=True,
                               capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, untracked):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    return repo


def _install(repo: Path, venv: Path) -> dict[str, str]:
    """A virtual environment that sees the installed dependencies, with the clone installed
    editable into it (no network: ``--no-deps``, and no build isolation when the build backend
    is here); the environment variables that put it first."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    try:
        import wheel  # noqa: F401 - the build backend's bdist_wheel
        pip.append("--no-build-isolation")
    except ImportError:
        pass                            # then pip fetches setuptools and wheel (needs PyPI)
    proc = subprocess.run(pip + ["-e", str(repo)], capture_output=True, text=True)
    assert proc.returncode == 0, f"pip install -e failed in the clone:\n{proc.stderr[-2000:]}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND="Agg",
               VIRTUAL_ENV=str(venv), PYTHONDONTWRITEBYTECODE="1")
    return env


def _installed(requirement: str) -> bool:
    """Whether ``dist==version`` is installed (a local label such as ``+cpu`` still matches)."""
    from importlib import metadata

    dist, version = requirement.split("==")
    try:
        return metadata.version(dist).split("+")[0] == version
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.slow
def test_readme_commands_run_top_to_bottom_in_a_fresh_clone(tmp_path):
    from rmt.backend import cupy_available

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = _clone(tmp_path)
    env = _install(repo, tmp_path / "venv")
    where = subprocess.run(["python", "-c", "import rmt; print(rmt.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(repo)), f"rmt imported from {where}, not the clone"
    gpu = cupy_available()
    installed = False
    for cmd in readme_commands():
        red = COMMANDS[cmd]
        if red.install:
            assert shutil.which("rmt", path=env["PATH"]).startswith(str(tmp_path))
            installed = True
            continue
        assert installed, f"{cmd!r} comes before the README's install command"
        if red.if_installed and not _installed(red.if_installed):
            continue                    # would download; the import checks cover the rest
        line = f"{cmd} {red.args}".strip() if (gpu or not red.gpu) else cmd
        proc = subprocess.run(["bash", "-c", line], cwd=repo, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        said = f"$ {line}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        if red.gpu and not gpu:         # README: without CuPy or a device, a one-line error
            assert proc.returncode == 2 and "CuPy" in proc.stderr, said
            assert proc.stderr.strip().count("\n") == 0, said
            continue
        assert proc.returncode == red.status, said
        for needle in red.expect:
            assert any(n in proc.stdout for n in needle.split("|")), f"{needle!r} not printed\n{said}"
        for rel in red.files:
            assert (repo / rel).exists(), f"{rel} not written\n{said}"
