"""The README's "Use it as a library" examples run as written, each in an empty folder, so they stay true."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from tests.egl import skip_without_egl
from tests.paths import REPO

SECTION = "## Use it as a library"


def readme_examples(readme: pathlib.Path = REPO / "README.md") -> list[str]:
    """The ```python blocks of the README's SECTION, in order (the section ends at the next `## ` heading)."""
    text = readme.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return re.findall(r"^```python\n(.*?)^```$", text[start : end if end >= 0 else None], re.M | re.S)


def run_example(code: str, cwd: pathlib.Path, python: str = sys.executable, **env: str) -> str:
    """Runs `code` as a script in cwd; its stdout, or an AssertionError with its stderr."""
    script = cwd / "example.py"
    script.write_text(code)
    environ = {**os.environ, **env}
    run = subprocess.run([python, str(script)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{code}\n---\n{run.stderr[-3000:]}"
    return run.stdout


def test_the_section_has_the_three_examples():
    examples = readme_examples()
    assert len(examples) == 3
    assert "teacher_optimizer" in examples[0] and "evaluate_files" in examples[1] and "grain" in examples[2]


def test_teacher_example(tmp_path):
    out = run_example(readme_examples()[0], tmp_path, PYTHONPATH=str(REPO))
    assert out.startswith("teacher's probabilities:")


def test_mpii_example(tmp_path):
    out = run_example(readme_examples()[1], tmp_path, PYTHONPATH=str(REPO))
    assert "'mAP': 100.0" in out
    assert (tmp_path / "gt.json").is_file() and (tmp_path / "pred.json").is_file()


def test_grain_example(tmp_path):
    skip_without_egl()
    out = run_example(readme_examples()[2], tmp_path, PYTHONPATH=str(REPO))
    lines = [line for line in out.splitlines() if line.startswith("train/")]
    assert len(lines) == 2 and all("(256, 256, 3)" in line for line in lines), out
    assert (tmp_path / "datasets" / "ltsh_synthetic").is_dir()
