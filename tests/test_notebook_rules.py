"""The course's rules for its notebooks, checked on the files in git (nbval runs them; this reads them)."""

from __future__ import annotations

import json

import pytest

from conftest import REPO

ENGLISH = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CHAPTERS = ENGLISH + sorted((REPO / "notebooks" / "zh").glob("[0-9][0-9]-*.ipynb"))   # both editions
IDS = [("zh/" if p.parent.name == "zh" else "") + p.stem for p in CHAPTERS]


def code_cells(path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_the_thirteen_chapters():
    """00-09 follow the notes; 10 volumes, 11 resource limits and 12 a container in Python go beyond them."""
    assert [p.name[:2] for p in ENGLISH] == [f"{n:02d}" for n in range(13)]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_a_chapter_starts_fresh_ends_clean_and_hides_little(path):
    cells = code_cells(path)
    sources = ["".join(c["source"]) for c in cells]
    edition = ', lang="zh"' if path.parent.name == "zh" else ""
    assert sources[0] == f'from minidock import course; client = course.start("{path.stem}"{edition})'
    assert "course.finish(client)" in sources[-1]
    assert not any("NBVAL_SKIP" in s for s in sources), "no cell may be skipped in CI"
    ignored = sum("NBVAL_IGNORE_OUTPUT" in s for s in sources)
    assert ignored <= 0.1 * len(cells), f"{ignored} of {len(cells)} code cells ignore their output"
    assert all(c["execution_count"] for c in cells), "stored without running every cell (make regen-notebooks)"
    assert not any(o["output_type"] == "error" for c in cells for o in c["outputs"]), "a stored error"


def test_the_landing_page_lists_every_chapter_of_both_editions():
    """notebooks/welcome.ipynb (``make lab`` opens it) is what tools/welcome.py makes of the chapters."""
    import sys
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import welcome
    finally:
        sys.path.remove(str(REPO / "tools"))
    stored = json.loads((REPO / "notebooks" / "welcome.ipynb").read_text(encoding="utf-8"))
    assert "".join(stored["cells"][0]["source"]) == welcome.page(), "stale: python tools/welcome.py"
    for path in ENGLISH:
        assert f"]({path.name})" in welcome.page()


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_a_chapter_stores_only_the_widget_state_its_pictures_need(path):
    """``make regen-notebooks`` tidies what nbconvert stores (tools/tidy_notebooks.py): the models a shown
    widget reaches, without the null defaults of layouts and styles."""
    import copy
    import sys
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from tidy_notebooks import tidy
    finally:
        sys.path.remove(str(REPO / "tools"))
    nb = json.loads(path.read_text())
    assert tidy(copy.deepcopy(nb)) == nb, "stored widget state beyond what renders (make regen-notebooks)"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_a_chapters_pictures_fit_the_page(path):
    import re
    for cell in code_cells(path):
        for output in cell["outputs"]:
            svg = "".join(output.get("data", {}).get("image/svg+xml", ""))
            size = re.search(r'<svg width="([\d.]+)(pt|px)"', svg)
            if size:
                px = float(size[1]) * (4 / 3 if size[2] == "pt" else 1)
                assert px <= 1000, f"a picture {px:.0f} px wide (viz.svg scales them: make regen-notebooks)"


def markdown_cells(path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_a_chapter_has_the_courses_shape(path):
    """Issue 14's shape: what you will be able to do first, with the glossary, cheat sheet and
    troubleshooting linked; two predict-then-run pairs at least; key points at the close; each exercise
    with two hints and its linked solution."""
    zh = path.parent.name == "zh"
    cells = json.loads(path.read_text())["cells"]
    texts = markdown_cells(path)
    docs = "../../docs/zh/" if zh else "../docs/"
    assert all(f"]({docs}{page}.md)" in texts[0] for page in ("glossary", "cheatsheet", "troubleshooting")), \
        "the first cell links the glossary, the cheat sheet and troubleshooting"
    predict = "**先猜一猜。**" if zh else "**Predict.**"
    pairs = [i for i, c in enumerate(cells[:-1]) if c["cell_type"] == "markdown"
             and "".join(c["source"]).lstrip().startswith(predict) and cells[i + 1]["cell_type"] == "code"]
    assert len(pairs) >= 2, f"{len(pairs)} predict-then-run pairs"
    assert any(line == ("## 本章要点" if zh else "## Key points") for t in texts for line in t.splitlines())
    exercise = "**练习 " if zh else "**Exercise "
    tasks = [t for t in texts if exercise in t]
    assert tasks, "no exercises"
    hints = ("提示 1", "提示 2") if zh else ("Hint 1", "Hint 2")
    solution = f"]({'../' if zh else ''}solutions/{path.stem}.py)"
    for task in tasks:
        assert all(f"<summary>{h}</summary>" in task for h in hints) and solution in task, task[:200]
