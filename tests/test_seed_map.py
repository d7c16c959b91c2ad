"""docs/seed-map.md: every line of the course's source text, the chapter and cells that show it.

The seed (the notes of *Docker — 从入门到实践*) is copied into the repository as docs/seed.txt;
the table must cover each of its non-blank lines once, quote it exactly, and name notebook
cells (by their nbformat ``id``) that exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache

import pytest

from conftest import REPO

SEED = REPO / "docs" / "seed.txt"
TABLE = REPO / "docs" / "seed-map.md"
NOTEBOOKS = REPO / "notebooks"
SHARED_SEEDS = REPO.parent / "shared" / "seed"   # where the course's source text is kept, outside the repo

PIPE = re.compile(r"(?<!\\)\|")                  # a cell boundary: a pipe not escaped as \|
CODE = re.compile(r"`([^`]*)`")
CHAPTER = re.compile(r"^\[(?P<name>\d\d-[\w-]+)\]\(chapters/(?P<target>\d\d-[\w-]+)\.ipynb\)$")
MINIDOCK_VERB = re.compile(r"\bminidock(?P<helper>-[a-z]+)?(?:\s+(?P<verb>[a-z]+))?")


def seed_lines() -> dict[int, str]:
    """The seed's non-blank lines by number (from 1), stripped as the table quotes them."""
    lines = SEED.read_text(encoding="utf-8").split("\n")
    return {number: line.strip() for number, line in enumerate(lines, 1) if line.strip()}


@cache
def rows() -> list[dict]:
    """The table's rows: line numbers, quoted texts, chapter, cell ids and minidock command."""
    text = TABLE.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(text) if line.startswith("| line | seed |"))
    parsed = []
    for line in text[header + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in PIPE.split(line.strip())[1:-1]]
        assert len(cells) == 6, f"a row of the table needs 6 cells: {line}"
        numbers, quoted, _gloss, chapter, ids, command = cells
        chapter_link = CHAPTER.match(chapter)
        assert chapter_link and chapter_link["name"] == chapter_link["target"], f"chapter cell: {chapter}"
        parsed.append({
            "lines": [int(n) for n in numbers.split(",")],
            "texts": [t.replace("\\|", "|") for t in CODE.findall(quoted)],
            "notebook": chapter_link["name"],
            "cells": CODE.findall(ids),
            "command": command.strip("`").replace("\\|", "|"),
        })
    return parsed


@cache
def notebook_cells(name: str) -> list[tuple[str, str]]:
    """(id, source) of each cell of notebooks/NAME.ipynb, in order."""
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    return [(cell.get("id"), "".join(cell["source"])) for cell in cells]


# sha256 of the seed as it was given (../shared/seed/000_d45548b993048f4c.txt), so a clone
# without ../shared (as CI's may be) still proves docs/seed.txt is that text, byte for byte.
SEED_SHA256 = "eea82b87818c47799cefed5643f5c630466a2ac11617b3dcebb06188526ee478"


def test_the_seed_in_the_repo_is_the_course_source():
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() == SEED_SHA256
    if SHARED_SEEDS.is_dir():  # beside the project, as in the developers' checkout: compare with it too
        assert any(SEED.read_bytes() == source.read_bytes() for source in SHARED_SEEDS.glob("*.txt"))


def test_the_table_is_in_the_docs():
    assert "\nseed-map\n" in (REPO / "docs" / "index.md").read_text(encoding="utf-8")


def test_no_seed_line_is_in_two_rows():
    numbers = [n for row in rows() for n in row["lines"]]
    assert sorted(n for n in set(numbers) if numbers.count(n) > 1) == []
    assert numbers == sorted(numbers), "the rows follow the seed's order"


def test_every_row_is_a_non_blank_seed_line():
    lines = seed_lines()
    assert [n for row in rows() for n in row["lines"] if n not in lines] == []


def test_every_seed_line_has_a_chapter_and_cell():
    mapped = {n for row in rows() for n in row["lines"]}
    missing = {n: text for n, text in seed_lines().items() if n not in mapped}
    assert missing == {}, "seed lines that no chapter shows yet:\n" + "\n".join(
        f"  {n}: {text}" for n, text in missing.items())


def test_each_row_quotes_its_seed_lines_exactly():
    lines = seed_lines()
    for row in rows():
        assert row["texts"] == [lines.get(n) for n in row["lines"]], f"lines {row['lines']}"


def test_each_cell_named_is_in_its_notebook():
    for row in rows():
        assert (NOTEBOOKS / f"{row['notebook']}.ipynb").is_file(), row["notebook"]
        ids = {cell_id for cell_id, _ in notebook_cells(row["notebook"])}
        assert row["cells"], f"lines {row['lines']}: no cell"
        assert [c for c in row["cells"] if c not in ids] == [], f"lines {row['lines']} in {row['notebook']}"


def verb_of(command: str) -> str:
    """What a cell must mention: the subcommand of `minidock VERB ...`, or a `minidock-HELPER`."""
    match = MINIDOCK_VERB.search(command)
    assert match, f"not a minidock command: {command}"
    if match["helper"]:
        return "minidock" + match["helper"]
    assert match["verb"], f"no verb in {command}"
    return match["verb"]


@pytest.mark.parametrize("row", [r for r in rows() if r["command"]], ids=lambda r: str(r["lines"][0]))
def test_a_command_row_names_a_cell_that_runs_it(row):
    """A named cell, or one beside it, mentions minidock and the command's verb."""
    verb = re.compile(rf"(?<![\w-]){re.escape(verb_of(row['command']))}(?![\w-])")
    cells = notebook_cells(row["notebook"])
    index = {cell_id: i for i, (cell_id, _) in enumerate(cells)}
    near = {j for c in row["cells"] if c in index
            for j in (index[c] - 1, index[c], index[c] + 1) if 0 <= j < len(cells)}
    assert any("minidock" in cells[j][1] and verb.search(cells[j][1]) for j in near), row["command"]
