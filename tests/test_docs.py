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


def test_the_chinese_book_builds_without_a_warning(tmp_path):
    """The second book (docs/zh): the Chinese edition's chapters, glossary, cheat sheet, troubleshooting."""
    pytest.importorskip("myst_nb", reason="make setup installs the docs extra (sphinx, myst-nb)")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html",
                           str(REPO / "docs" / "zh"), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'lang="zh-CN"' in (tmp_path / "index.html").read_text()
    for page in ("glossary", "cheatsheet", "troubleshooting"):
        assert (tmp_path / f"{page}.html").is_file()
    chapters = sorted(p.name for p in (tmp_path / "chapters").glob("*.html"))
    assert chapters == sorted(p.stem + ".html" for p in (REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def test_the_cheat_sheets_are_the_seed_maps():
    """docs/cheatsheet.md and docs/zh/cheatsheet.md are what tools/cheatsheet.py makes of the seed map."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import cheatsheet
    finally:
        sys.path.remove(str(REPO / "tools"))
    for lang, (name, _head) in cheatsheet.PAGES.items():
        assert (REPO / "docs" / name).read_text(encoding="utf-8") == cheatsheet.page(lang), \
            f"docs/{name} is stale: python tools/cheatsheet.py"
    rows = cheatsheet.commands()
    assert len(rows) >= 30 and all("minidock" in command for _docker, command, _chapter, _cells in rows)


@pytest.mark.parametrize("page", ["glossary", "troubleshooting"])
def test_each_reference_page_is_in_both_languages(page):
    """The same sections in both: the glossary's rows one for one; troubleshooting's entries one for one."""
    en = (REPO / "docs" / f"{page}.md").read_text(encoding="utf-8")
    zh = (REPO / "docs" / "zh" / f"{page}.md").read_text(encoding="utf-8")
    if page == "glossary":
        count = [sum(1 for line in text.splitlines() if line.startswith("| ") and "---" not in line)
                 for text in (en, zh)]
    else:
        count = [sum(1 for line in text.splitlines() if line.startswith("**")) for text in (en, zh)]
    assert count[0] == count[1] and count[0] >= 10
