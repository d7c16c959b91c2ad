"""The docs build, warnings as errors (``make docs``), and say what the code says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


def test_the_docs_build_without_a_warning(tmp_path):
    pytest.importorskip("myst_nb", reason="make setup installs the docs extra (sphinx, myst-nb)")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html",
                           str(REPO / "docs"), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cli = (tmp_path / "cli.html").read_text()
    for command in ("build", "pull", "push", "run", "registry serve", "save"):
        assert f"minidock {command}" in cli
    chapters = sorted(p.name for p in (tmp_path / "chapters").glob("*.html"))
    notebooks = sorted(p.stem + ".html" for p in (REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert chapters == notebooks
