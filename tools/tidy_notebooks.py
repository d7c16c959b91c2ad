"""Keep in a notebook's stored widget state only what renders its pictures.

When nbconvert runs a notebook it stores the state of every widget model the kernel ever made, also
those a widget replaced on an update and no output shows any more (chapter 4 had 130 models, 100 KB,
for one picture).  This keeps the models that a displayed widget view reaches through its
``IPY_MODEL_`` references (without the null attributes of layout and style models, which are their
defaults), and drops the widget metadata when no view is left.  ``make regen-notebooks``
runs it after executing; ``tests/test_notebook_rules.py`` checks the result.

    python tools/tidy_notebooks.py notebooks/04-containers.ipynb ...
"""

from __future__ import annotations

import json
import re
import sys

STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"


def shown_models(nb: dict) -> set[str]:
    """The model IDs displayed by the notebook's outputs."""
    return {output["data"][VIEW]["model_id"] for cell in nb["cells"] for output in cell.get("outputs", [])
            if VIEW in output.get("data", {})}


def reachable(state: dict, roots: set[str]) -> set[str]:
    """The models ``roots`` reach through ``IPY_MODEL_<id>`` references, themselves included."""
    seen, todo = set(), [r for r in roots if r in state]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        todo += [ref for ref in re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model])) if ref in state]
    return seen


def _without_defaults(model: dict) -> dict:
    """A layout or style model without its null attributes: null is each one's default (ipywidgets 8),
    so the widget renders the same; they were most of the 100 KB."""
    if model.get("model_name") == "LayoutModel" or model.get("model_name", "").endswith("StyleModel"):
        model = {**model, "state": {k: v for k, v in model["state"].items() if v is not None}}
    return model


def tidy(nb: dict) -> dict:
    widgets = nb.get("metadata", {}).get("widgets", {}).get(STATE)
    if widgets is None:
        return nb
    keep = reachable(widgets["state"], shown_models(nb))
    if keep:
        widgets["state"] = {k: _without_defaults(v) for k, v in widgets["state"].items() if k in keep}
    else:
        del nb["metadata"]["widgets"]
    return nb


def main(paths: list[str]) -> None:
    import nbformat  # written as nbconvert writes it: sorted keys, indent 1
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(nbformat.from_dict(tidy(nb)), path)


if __name__ == "__main__":
    main(sys.argv[1:])
