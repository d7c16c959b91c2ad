"""Progress bars for long transfers, drawn by tqdm in a terminal and in notebooks.

Docker shows a bar while it loads or saves a large archive; so does minidock,
when the transfer is known to be over a few MB and someone is watching:
stderr is a terminal, or a notebook's kernel runs minidock, or
``MINIDOCK_PROGRESS=1`` asks for it (``=0`` turns it off).
Piped into a file or a test, the output stays clean.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

THRESHOLD = 4 << 20  # bars for transfers of a few MB and more


def wanted(total: int | None) -> bool:
    """Whether to draw a bar for a transfer of ``total`` bytes (None: unknown).

    Someone watches a terminal (stderr is a TTY) or a notebook (a Jupyter
    kernel runs us, and tqdm draws a widget there).
    """
    forced = os.environ.get("MINIDOCK_PROGRESS")
    if forced is not None:
        return forced not in ("", "0")
    watched = sys.stderr.isatty() or "ipykernel" in sys.modules
    return watched and total is not None and total >= THRESHOLD


class Metered:
    """A stream whose reads or writes move a tqdm bar (or nothing, when ``bar`` is None).

    Use it with ``with``: leaving the block closes the bar, not the stream.
    """

    def __init__(self, stream: BinaryIO, bar=None):
        self.stream, self.bar = stream, bar

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if self.bar is not None:
            self.bar.update(len(data))
        return data

    def write(self, data) -> int:
        if self.bar is not None:
            self.bar.update(len(data))
        return self.stream.write(data)

    def __enter__(self) -> "Metered":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def metered(stream: BinaryIO, desc: str, total: int | None = None) -> Metered:
    """``stream`` wrapped in a progress bar when one is :func:`wanted`."""
    if not wanted(total):
        return Metered(stream)
    from tqdm.auto import tqdm  # the notebook widget when in Jupyter, text otherwise

    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1000,
               file=sys.stderr, leave=False)
    return Metered(stream, bar)


def size_of(stream) -> int | None:
    """The size of a file-backed stream, None for a pipe."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return st.st_size if st.st_size else None
