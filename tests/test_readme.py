"""README.md stays true: its Python examples run, and CI runs its exact test command."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("code", _blocks("python"), ids=lambda c: c.splitlines()[0][:40])
def test_python_examples_run(code):
    exec(compile(code, "<README.md example>", "exec"), {"__name__": "readme_example"})


def test_ci_runs_the_readme_test_command():
    commands = [b.strip() for b in _blocks("bash") if "pytest" in b and "pip install" in b]
    assert commands, "README must give the test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[0] in ci.splitlines()


def test_readme_main_job_is_rmt_verify():
    assert "pip install -e . && rmt verify" in README
