"""Sphinx configuration of the Chinese book (中文版): the Chinese edition's chapters, glossary, cheat sheet
and troubleshooting, built by ``make docs`` beside the English book (warnings are errors)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ZH = Path(__file__).resolve().parent
REPO = ZH.parents[1]
sys.path.insert(0, str(REPO))

# The chapters are the Chinese edition's notebooks as committed (notebooks/zh), copied in at each
# build with their solutions, as the English book does with notebooks/.  A chapter not translated yet
# is the English one, so that the book and its links are whole while the edition grows.
shutil.rmtree(ZH / "chapters", ignore_errors=True)
(ZH / "chapters").mkdir()
for english in sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")):
    notebook = REPO / "notebooks" / "zh" / english.name
    doc = json.loads((notebook if notebook.exists() else english).read_text(encoding="utf-8"))
    doc.setdefault("metadata", {}).setdefault("language_info", {})["pygments_lexer"] = "ipython3"
    for cell in doc["cells"]:   # links from notebooks/zh/ there, from docs/zh/chapters/ here
        if cell["cell_type"] == "markdown":
            cell["source"] = ("".join(cell["source"]).replace("](../../docs/zh/", "](../")
                              .replace("](../solutions/", "](solutions/").replace("](../docs/", "](../../"))
    (ZH / "chapters" / notebook.name).write_text(json.dumps(doc), encoding="utf-8")
shutil.copytree(REPO / "notebooks" / "solutions", ZH / "chapters" / "solutions",
                ignore=shutil.ignore_patterns("__pycache__"))

project = "minidock"
author = "the minidock developers"
language = "zh_CN"
extensions = ["myst_nb"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_merge_streams = True
exclude_patterns = ["_build", "chapters/solutions"]
html_theme = "alabaster"
html_title = "minidock：动手造一个 Docker"
suppress_warnings = ["mystnb.unknown_mime_type"]
