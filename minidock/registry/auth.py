"""Registry credentials (``login``/``logout``) and the challenges that ask for them.

A registry that wants credentials answers ``401 Unauthorized`` with a
``WWW-Authenticate`` header (RFC 7235) naming a scheme:

* ``Basic realm="..."``: send ``Authorization: Basic base64(user:password)``
  with every request (distribution's htpasswd auth);
* ``Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"``:
  first ask the *token server* at ``realm`` (with Basic credentials, or
  anonymously), then send ``Authorization: Bearer <token>`` (the
  distribution spec's token flow, which Docker Hub uses).

Credentials live in ``$XDG_CONFIG_HOME/minidock/auth.json`` (else
``~/.config/minidock/auth.json``; ``MINIDOCK_CONFIG`` chooses the directory),
in docker's ``config.json`` shape ``{"auths": {HOST: {"auth": base64}}}``,
mode 0600, written atomically.  They are never printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path

CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def config_dir() -> Path:
    """Where minidock keeps its per-user settings (credentials, mirrors)."""
    if os.environ.get("MINIDOCK_CONFIG"):
        return Path(os.environ["MINIDOCK_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "minidock"


def _auth_file() -> Path:
    return config_dir() / "auth.json"


def _read() -> dict:
    try:
        return json.loads(_auth_file().read_text())
    except FileNotFoundError:
        return {"auths": {}}


def _write(doc: dict) -> None:
    """Replace the credentials file atomically, readable by its owner only."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".auth-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
        os.replace(tmp, _auth_file())
    except BaseException:
        os.unlink(tmp)
        raise


def credentials(host: str) -> tuple[str, str] | None:
    """The (user, password) saved for ``host``, if any."""
    entry = _read().get("auths", {}).get(host)
    if not entry or "auth" not in entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


def save(host: str, user: str, password: str) -> None:
    """Remember credentials for ``host`` (``minidock login``)."""
    doc = _read()
    doc.setdefault("auths", {})[host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(doc)


def forget(host: str) -> bool:
    """Drop the credentials of ``host`` (``minidock logout``); whether there were any."""
    doc = _read()
    if host not in doc.get("auths", {}):
        return False
    del doc["auths"][host]
    _write(doc)
    return True


def basic(user: str, password: str) -> str:
    """The value of an ``Authorization`` header for Basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",scope="y"`` -> ("bearer", {"realm": "x", "scope": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(CHALLENGE.findall(rest))
