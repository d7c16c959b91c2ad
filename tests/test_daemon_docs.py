"""docs/daemon.md names every endpoint the daemon serves, and nothing it does not."""

from __future__ import annotations

import re

import minidock.api.daemon.daemon  # noqa: F401  (it imports every route module)
from minidock.api.daemon.server import ROUTES

from conftest import REPO

PAGE = (REPO / "docs" / "daemon.md").read_text()


def served() -> set[str]:
    """Each route's path, its named groups written as {id} (the page's way)."""
    return {re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", pattern.pattern) for _, pattern, _ in ROUTES}


def documented() -> set[str]:
    """The paths in the page's endpoint table: each code span ``METHOD /path``; a ``/x`` alone (no method)
    ends the path before it otherwise (``/stop`` after ``POST /containers/{id}/start``)."""
    table = PAGE[PAGE.index("## Endpoints"):PAGE.index("A container's create")]
    paths, last = set(), ""
    for span in re.findall(r"`([^`]*)`", table):
        path = span.split()[-1].split("?")[0]
        if not path.startswith("/"):
            continue
        if len(span.split()) == 1 and last:          # `/stop` after `POST /containers/{id}/start`
            path = last.rsplit("/", 1)[0] + path
        path = re.sub(r"\{\w+\}", "{id}", path)
        paths.add(path)
        last = path
    return paths


def test_the_page_lists_every_endpoint_and_no_other():
    routes = served()
    listed = documented()
    assert routes - listed == set(), "served, not in docs/daemon.md"
    assert {p for p in listed - routes if p not in ("/{id}",)} == set(), "in docs/daemon.md, not served"
