"""The Chinese edition (notebooks/zh) is the English one cell for cell: the same code (comments aside,
and but for the first cell's ``lang="zh"``), its prose translated from the English as it is now."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import editions  # noqa: E402

sys.path.remove(str(REPO / "tools"))

ZH_CHAPTERS = sorted((REPO / "notebooks" / "zh").glob("[0-9][0-9]-*.ipynb"))


def test_each_chinese_chapter_is_its_english_chapters_twin():
    assert [p for path in ZH_CHAPTERS for p in editions.problems(path.stem)] == []


def test_the_teacher_s_notebook_has_its_twin_too():
    assert "teacher" in editions.twins() and editions.problems("teacher") == []


def _pair(tmp_path, monkeypatch, en_cells, zh_cells):
    monkeypatch.setattr(editions, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(editions, "ZH", tmp_path / "zh")
    (tmp_path / "zh").mkdir(parents=True)
    for where, cells in ((tmp_path, en_cells), (tmp_path / "zh", zh_cells)):
        cells = [{"cell_type": kind, "id": f"c{i}", "metadata": meta, "source": source}
                 for i, (kind, source, meta) in enumerate(cells)]
        (where / "99-x.ipynb").write_text(json.dumps({"cells": cells}), encoding="utf-8")
    return editions.problems("99-x")


PROSE = "Run the command and look at what it prints."


def test_the_check_finds_each_way_the_editions_drift(tmp_path, monkeypatch):
    first_en, first_zh = editions.first_line("99-x"), editions.first_line("99-x", "zh")
    same = editions.source_hash(PROSE)
    good = [("code", first_zh, {}), ("markdown", "运行这条命令，看看它打印什么。", {"en_source": same}),
            ("code", "!minidock ps   # 列出容器\nx = 1", {})]
    english = [("code", first_en, {}), ("markdown", PROSE, {}), ("code", "!minidock ps   # list them\nx = 1", {})]
    assert _pair(tmp_path / "a", monkeypatch, english, good) == []
    cases = {
        "code differs": [good[0], good[1], ("code", "!minidock ps -a\nx = 1", {})],
        "changed since it was translated": [good[0], ("markdown", good[1][1], {"en_source": "0" * 16}), good[2]],
        "not translated": [good[0], ("markdown", PROSE, {"en_source": same}), good[2]],
        "the first code cell must be": [("code", first_en, {}), good[1], good[2]],
        "the cells": [good[0], good[2], good[1]],
    }
    for n, (says, zh) in enumerate(cases.items()):
        found = _pair(tmp_path / str(n), monkeypatch, english, zh)
        assert len(found) == 1 and says in found[0], (says, found)


def test_a_new_chinese_chapter_starts_as_the_english_with_its_first_line(tmp_path, monkeypatch):
    import shutil
    shutil.copy(REPO / "notebooks" / "09-cleaning-up.ipynb", tmp_path / "09-cleaning-up.ipynb")
    monkeypatch.setattr(editions, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(editions, "ZH", tmp_path / "zh")
    editions.new("09-cleaning-up")
    found = editions.problems("09-cleaning-up")
    assert found and all("not translated" in p for p in found)    # only the prose is left to do
