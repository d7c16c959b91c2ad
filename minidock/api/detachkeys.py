"""Detach keys: the key sequence that leaves an attached terminal without stopping the container.

Docker's default is Ctrl-P Ctrl-Q; ``--detach-keys`` (the API's ``detachKeys``) names another:
``ctrl-<x>`` (x one of a-z, @, [, \\, ], ^, _) or a plain character, comma-separated (``parse``).
Docker spots the sequence only in input read one key at a time, as a terminal in raw mode sends it,
and only with a TTY (moby's ``term.NewEscapeProxy``): a pasted chunk that happens to hold the bytes
goes through untouched, and the keys of a started sequence are held back until it breaks
(``Sequence.feed``).
"""

from __future__ import annotations

from ..errors import UsageError

DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q


def parse(spec: str | None) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q" (ctrl-a..z, @, [, \\, ], ^, _) or plain letters."""
    if not spec:
        return DEFAULT
    keys = b""
    for part in spec.split(","):
        part = part.strip().lower()
        if part.startswith("ctrl-") and len(part) == 6:
            keys += bytes([ord(part[5].upper()) & 0x1F])
        elif len(part) == 1:
            keys += part.encode()
        else:
            raise UsageError(f"Invalid detach keys ({spec}) provided")
    return keys


class Sequence:
    """Watches input for the detach keys: ``feed`` each read; it returns what to pass on, and whether
    the client just detached."""

    def __init__(self, keys: bytes):
        self.keys, self.matched = keys, 0

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        if len(chunk) == 1 and chunk[0] == self.keys[self.matched]:
            self.matched += 1                      # held back: the sequence may go on
            if self.matched == len(self.keys):
                self.matched = 0
                return b"", True
            return b"", False
        held, self.matched = self.keys[:self.matched], 0
        return held + chunk, False
