"""Write notebooks/welcome.ipynb, the course's landing page (``make lab`` opens it): every chapter, in
English and, where the Chinese edition has it, in Chinese, each with the title its first cell gives.

    python tools/welcome.py

``tests/test_notebook_rules.py`` checks that the page is what this writes, so a new chapter or a new
translation shows up on it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def title(path: Path) -> str:
    """A chapter's title: its first heading, without the "Chapter N —" (第 N 章) before it."""
    first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]).splitlines()[0]
    return re.sub(r"^(Chapter \d+\s*[—-]\s*|第\s*\d+\s*章[\s—：:-]*)", "", first.lstrip("# ").strip())


def page() -> str:
    rows = []
    for english in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        chinese = NOTEBOOKS / "zh" / english.name
        zh = f"[{title(chinese)}](zh/{english.name})" if chinese.exists() else "（翻译中）"
        rows.append(f"| {english.name[:2]} | [{title(english)}]({english.name}) | {zh} |")
    return "\n".join([
        "# minidock: Docker, built and explained · 动手造一个 Docker",
        "",
        "A course that teaches Docker by running a real container engine. Pick your edition and start with",
        "chapter 00; run each chapter from the top (Shift+Enter).",
        "",
        "一门边运行真实容器引擎边学 Docker 的课程。选择版本，从第 00 章开始；每章从头逐个运行单元格（Shift+Enter）。",
        "",
        "| | English | 中文 |",
        "| --- | --- | --- |",
        *rows,
        "",
        "For teachers · 给老师: [the teacher's view](teacher.ipynb) (which exercises each learner got right; "
        "CSV and nbgrader exports) · [教师视图](zh/teacher.ipynb)",
        "",
        "Reference · 参考: [glossary](../docs/glossary.md) · [cheat sheet](../docs/cheatsheet.md) · "
        "[troubleshooting](../docs/troubleshooting.md) · [术语表](../docs/zh/glossary.md) · "
        "[速查表](../docs/zh/cheatsheet.md) · [常见问题](../docs/zh/troubleshooting.md)",
    ])


def notebook() -> dict:
    return {"cells": [{"cell_type": "markdown", "id": "welcome", "metadata": {}, "source": page()}],
            "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def main() -> None:
    import nbformat
    nbformat.write(nbformat.from_dict(notebook()), NOTEBOOKS / "welcome.ipynb")


if __name__ == "__main__":
    main()
    sys.exit(0)
