"""The two editions of a chapter: ``notebooks/NN-name.ipynb`` (English) and ``notebooks/zh/NN-name.ipynb`` (中文).

The Chinese edition is the English one cell for cell, with the same cell ids:

* its **code cells are the English ones** once comments are removed (a comment may be translated),
  except the first, which picks the edition: ``course.start("NN-name", lang="zh")``;
* its **markdown cells are written for Chinese readers**, and each records in its metadata the hash of
  the English cell it was written from (``"en_source": "<sha256, 16 hex>"``), so that when the English
  text changes, the check says which Chinese cells to revisit.

    python tools/editions.py new 04-containers    # notebooks/zh/04-containers.ipynb to translate
    python tools/editions.py check                # every Chinese chapter (and teacher.ipynb) against its English one

``tests/test_editions.py`` runs the check.  Outputs are made by ``make regen-notebooks``, never by hand.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tokenize
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ZH = NOTEBOOKS / "zh"
CJK = re.compile(r"[\u4e00-\u9fff]")
PROSE = re.compile(r"\b[A-Za-z]{2,} [a-z]{2,} [a-z]{2,} [a-z]{2,}\b")   # four English words in a row


# notebooks beside the chapters, with twins too: no store of their own, so their first line only picks the edition
BESIDE = ("teacher",)


def first_line(chapter: str, lang: str = "en") -> str:
    """The first code cell of a chapter, the one line where the editions' code differs."""
    if chapter in BESIDE:
        return "from minidock import course" + ("" if lang == "en" else f'; course.lang.use("{lang}")')
    edition = "" if lang == "en" else f', lang="{lang}"'
    return f'from minidock import course; client = course.start("{chapter}"{edition})'


def twins() -> list[str]:
    """Every notebook with a Chinese twin: the chapters, then those beside them."""
    return [path.stem for path in sorted(ZH.glob("[0-9][0-9]-*.ipynb"))] + \
        [name for name in BESIDE if (ZH / f"{name}.ipynb").exists()]


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def without_comments(code: str) -> str:
    """A code cell's Python without its comments and trailing blanks (IPython's ``!`` and ``%%`` lines,
    which tokenize cannot read, are kept as they are, minus a trailing ``# comment``)."""
    lines = []
    for line in code.splitlines():
        if line.lstrip().startswith(("!", "%")):
            lines.append(re.sub(r"\s+#[^'\"]*$", "", line).rstrip())
            continue
        lines.append(line)
    text = "\n".join(lines)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text + "\n").readline)
                  if t.type != tokenize.COMMENT]
        text = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass   # a %%bash body: compare it whole
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def new(chapter: str) -> Path:
    """Start the Chinese edition of ``chapter``: the English cells, the first code cell picking Chinese,
    each markdown cell marked with the hash of its English (to be translated), no outputs."""
    import nbformat
    nb = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    first = True
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if first:
                cell.source, first = first_line(chapter, "zh"), False
        else:
            cell.metadata["en_source"] = source_hash(cell.source)
    ZH.mkdir(exist_ok=True)
    path = ZH / f"{chapter}.ipynb"
    nbformat.write(nb, path)
    return path


def problems(chapter: str) -> list[str]:
    """What keeps ``notebooks/zh/<chapter>.ipynb`` from being the Chinese twin of the English chapter."""
    import json
    en = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text(encoding="utf-8"))["cells"]
    zh = json.loads((ZH / f"{chapter}.ipynb").read_text(encoding="utf-8"))["cells"]
    found = []
    if [(c["cell_type"], c.get("id")) for c in en] != [(c["cell_type"], c.get("id")) for c in zh]:
        return [f"{chapter}: the cells (their kinds and ids, in order) differ from the English edition's"]
    first = True
    for e, z in zip(en, zh):
        e_src, z_src = "".join(e["source"]), "".join(z["source"])
        where = f"{chapter} cell {z.get('id')}"
        if e["cell_type"] == "code":
            if first:
                first = False
                if e_src != first_line(chapter) or z_src != first_line(chapter, "zh"):
                    found.append(f"{where}: the first code cell must be {first_line(chapter, 'zh')!r}")
            elif without_comments(e_src) != without_comments(z_src):
                found.append(f"{where}: code differs from the English edition's (comments aside)")
        elif z.get("metadata", {}).get("en_source") != source_hash(e_src):
            found.append(f"{where}: the English text changed since it was translated (or it has no en_source)")
        elif not CJK.search(z_src) and PROSE.search(z_src):
            found.append(f"{where}: not translated (English prose, no Chinese)")
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["new"] and len(argv) == 2:
        print(new(argv[1]))
        return 0
    if argv[:1] == ["check"]:
        found = [p for name in twins() for p in problems(name)]
        print("\n".join(found) or "the editions agree")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
