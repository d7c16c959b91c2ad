"""Sphinx configuration: the course's docs, built by ``make docs`` (warnings are errors)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

# The chapters are the notebooks as committed (outputs and all), copied in at
# each build, so their links to one another ("01-images.ipynb") work here too.
shutil.rmtree(DOCS / "chapters", ignore_errors=True)
(DOCS / "chapters").mkdir()
for notebook in sorted((DOCS.parent / "notebooks").glob("[0-9][0-9]-*.ipynb")):
    doc = json.loads(notebook.read_text())
    # cells hold IPython ("!minidock ps"), which the plain Python lexer cannot read
    doc.setdefault("metadata", {}).setdefault("language_info", {})["pygments_lexer"] = "ipython3"
    for cell in doc["cells"]:   # a chapter's links to the docs, from notebooks/ there, from chapters/ here
        if cell["cell_type"] == "markdown":
            cell["source"] = "".join(cell["source"]).replace("](../docs/", "](../")
    (DOCS / "chapters" / notebook.name).write_text(json.dumps(doc))
# the solutions too, so a chapter's link to its solution ("solutions/07-client-and-daemon.py") is a download here
shutil.copytree(DOCS.parent / "notebooks" / "solutions", DOCS / "chapters" / "solutions",
                ignore=shutil.ignore_patterns("__pycache__"))

project = "minidock"
author = "the minidock developers"
extensions = ["myst_nb", "sphinx.ext.autodoc", "cliref", "layermap"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"          # the chapters are rendered from their stored outputs (nbval checks those)
nb_merge_streams = True
exclude_patterns = ["_build", "chapters/solutions", "zh"]   # zh/: the Chinese book, built on its own
html_theme = "alabaster"
html_title = "minidock: Docker, built and explained"
autodoc_member_order = "bysource"
suppress_warnings = ["mystnb.unknown_mime_type"]  # widget views in stored outputs need a live kernel
