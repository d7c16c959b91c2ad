"""Write docs/cheatsheet.md and docs/zh/cheatsheet.md from docs/seed-map.md: each of the notes' commands,
the minidock command a chapter runs for it, and the chapter and cells where it runs.

The seed map has a row per line of the notes; the cheat sheet keeps the rows that run a command, one
per distinct command of the notes, in the notes' order.  ``tests/test_docs.py`` checks that both pages
are what this writes (run it again after the seed map changes):

    python tools/cheatsheet.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
PIPE = re.compile(r"(?<!\\)\|")
CODE = re.compile(r"`([^`]*)`")

PAGES = {
    "en": ("cheatsheet.md", "# Cheat sheet: the notes' commands, and where they run\n\n"
           "Each `docker` command of the course's notes (in their order), the `minidock` command the chapter\n"
           "runs for it, and the chapter with the cells that run it (cells are named by their notebook cell\n"
           "`id`; [the seed map](seed-map.md) has every line of the notes). Written by `tools/cheatsheet.py`.\n"
           "中文版：<a href='zh/cheatsheet.html'>速查表</a>.\n\n"
           "| the notes | minidock | chapter | cells |\n| --- | --- | --- | --- |\n"),
    "zh": ("zh/cheatsheet.md", "# 速查表：笔记里的命令，以及在哪里运行\n\n"
           "课程所依据的笔记中的每条 `docker` 命令（按笔记的顺序）、章节里代替它运行的 `minidock` 命令，以及运行它的\n"
           "章节和单元格（单元格以 notebook 中的 `id` 命名；笔记逐行的对照见英文版的 seed map）。本页由\n"
           "`tools/cheatsheet.py` 生成。English: <a href='../cheatsheet.html'>cheat sheet</a>.\n\n"
           "| 笔记 | minidock | 章节 | 单元格 |\n| --- | --- | --- | --- |\n"),
}


COMMAND_LIKE = re.compile(r"^(?:[#$]\s*|或\s*)?(?:sudo\s+)?(?:docker|nsenter|PID=|cat\b.*docker)")


def commands() -> list[tuple[str, str, str, str]]:
    """(the notes' commands, minidock's, chapter link, cells) for each minidock command the seed map names,
    with the notes' lines for it that are commands (or its first line, where none is)."""
    text = (DOCS / "seed-map.md").read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(text) if line.startswith("| line | seed |"))
    found: dict[str, list] = {}
    for line in text[header + 2:]:
        if not line.startswith("|"):
            break
        _lines, quoted, _gloss, chapter, ids, command = (c.strip() for c in PIPE.split(line.strip())[1:-1])
        if not command:
            continue
        entry = found.setdefault(command, [[], [], chapter, ids])
        quotes = CODE.findall(quoted)
        entry[0] += [q for q in quotes if COMMAND_LIKE.match(q.replace("\\|", "|")) and q not in entry[0]]
        entry[1] += quotes[:1]
    return [("<br>".join(f"`{q}`" for q in (like or first[:1])), command, chapter, ids)
            for command, (like, first, chapter, ids) in found.items()]


def page(lang: str) -> str:
    _name, head = PAGES[lang]
    return head + "".join(f"| {d} | {m} | {c} | {i} |\n" for d, m, c, i in commands())


def main() -> None:
    for lang, (name, _head) in PAGES.items():
        (DOCS / name).parent.mkdir(exist_ok=True)
        (DOCS / name).write_text(page(lang), encoding="utf-8")


if __name__ == "__main__":
    main()
    sys.exit(0)
