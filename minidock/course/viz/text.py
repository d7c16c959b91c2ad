"""Columns of text that line up when a cell holds Chinese: width as a terminal shows it, not ``len``.

A monospace font gives each CJK character two columns (Unicode's East Asian
Width ``W`` and ``F``, UAX #11), and a combining mark none, so ``str.ljust``
and f-string widths, which count characters, push every cell after a Chinese
one out of line.  These count columns instead, as ``wcwidth(3)`` does; for
ASCII text they give exactly what ``len``, ``ljust`` and ``rjust`` give, so the
English edition's tables stay byte for byte what they were.  Characters of
ambiguous width (``A``: "…", "│", "✗", curly quotes) count one, as terminals
and browsers show them beside Latin text.
"""

from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    """How many columns ``text`` takes in a monospace font: 2 a wide character, 0 a combining one, else 1."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def ljust(text: str, columns: int) -> str:
    """``text`` padded with spaces on the right to ``columns`` wide (as it is when already wider)."""
    return text + " " * max(0, columns - width(text))


def rjust(text: str, columns: int) -> str:
    """``text`` padded with spaces on the left to ``columns`` wide."""
    return " " * max(0, columns - width(text)) + text


def cut(text: str, columns: int) -> str:
    """``text`` if it fits in ``columns``, else its start and "…" in that many columns (or one fewer)."""
    if width(text) <= columns:
        return text
    kept, used = [], 1  # the "…" takes one
    for ch in text:
        if used + width(ch) > columns:
            break
        kept.append(ch)
        used += width(ch)
    return "".join(kept) + "…"
