"""``GET /events``: what happened to containers, images, volumes and networks, as it happens.

The events come from the store's journal (``images/journal.py``), so ``docker events`` also shows
what the ``minidock`` CLI and the containers' shims did, not only what went through this daemon.
``since`` replays the journal first; without ``until`` the stream then follows it until the client
hangs up.
"""

from __future__ import annotations

import json

from .containers import client_gone
from .server import HTTPError, route

FILTERS = ("container", "event", "image", "label", "type", "volume", "network", "daemon", "scope")


def _instant(req, name: str) -> float | None:
    """``since``/``until``: Unix seconds with an optional fraction, as the CLI sends them."""
    text = req.arg(name)
    if not text:
        return None
    seconds, _, fraction = text.partition(".")
    if not seconds.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        raise HTTPError(400, f"invalid value for {name}: {text!r} (Unix seconds[.nanoseconds])")
    return int(seconds) + int((fraction + "000000000")[:9]) / 1e9


@route("GET", r"/events")
def events(req) -> None:
    chosen = req.client.events(_instant(req, "since"), _instant(req, "until"), req.filters(FILTERS),
                               stopped=lambda: client_gone(req.connection))
    req.stream(json.dumps(e).encode() + b"\n" for e in chosen)
