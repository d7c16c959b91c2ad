"""The root mode's recorded outputs of ``%%needs`` cells (``course.needs``), checked on the files in git.

A mode that lacks what a cell needs shows, instead of running it, what the cell showed in the root mode:
``notebooks/recorded/<chapter>/<digest of the cell's body>.txt``, written when the notebooks are
regenerated as root.  Every such cell must have its recording, and every recording its cell (a cell
edited since leaves one behind: regenerate the chapter and delete what no cell names).
"""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from minidock.course.chapter import cell_digest

EDITIONS = [REPO / "notebooks", REPO / "notebooks" / "zh"]
NOTEBOOKS = sorted(p for d in EDITIONS for p in d.glob("[0-9][0-9]-*.ipynb"))


def needs_cells(path) -> dict[str, str]:
    """The ``%%needs`` cells of a notebook, by the name of their recording."""
    cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return {f"{cell_digest(s.partition(chr(10))[2])}.txt": s for s in cells if s.startswith("%%needs ")}


def ids(path) -> str:
    return str(path.relative_to(REPO / "notebooks").with_suffix(""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[ids(p) for p in NOTEBOOKS])
def test_every_needs_cell_has_its_recording_and_every_recording_its_cell(path):
    folder = path.parent / "recorded" / path.stem
    cells = needs_cells(path)
    kept = {p.name for p in folder.glob("*")} if folder.is_dir() else set()
    missing = sorted(set(cells) - kept)
    assert not missing, "regenerate the chapter as root: no recording of\n" + "\n\n".join(
        cells[name] for name in missing)
    orphans = sorted(kept - set(cells))
    assert not orphans, f"no cell of {path.name} records {orphans}: delete them"


def test_no_recordings_of_a_chapter_that_is_not_there():
    for edition in (d for d in EDITIONS if (d / "recorded").is_dir()):
        chapters = {p.stem for p in edition.glob("[0-9][0-9]-*.ipynb")}
        assert {d.name for d in (edition / "recorded").iterdir()} <= chapters, edition
